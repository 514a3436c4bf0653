"""The strict cloud's rules about creating (real-aws.md, "Creating"): igw-before-lb,
eventual-consistency, route53, marketplace-opt-in; and about changing instances and EBS volumes:
instance-type-stopped, volume-no-shrink, attach-volume. Mixed into cloud.Cloud.
"""

import time

from awswire import Refused, child, child_text, find_all, parse_xml

MARKETPLACE = "In order to use this AWS Marketplace product you need to accept terms and subscribe. To do so please visit https://aws.amazon.com/marketplace/pp?sku={sku}"


def norm_name(name):
    """Route 53 names compare case-insensitively, with the trailing dot, \\052 for *."""
    name = (name or "").replace("\\052", "*").lower()
    return name if name.endswith(".") else name + "."


class CreatingRules:
    # =================================================================================================
    # igw-before-lb. An internet-facing load balancer needs the VPC's internet gateway attached first:
    # "InvalidSubnet: VPC vpc-... has no internet gateway".
    # Sources: CloudFormation DependsOn ("When a DependsOn attribute is required": load balancers
    # depend on the VPC-gateway attachment),
    # https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-dependson.html ;
    # awslabs/aws-cloudformation-templates#75 ; hashicorp/terraform-provider-aws PR #4587.
    # =================================================================================================
    def igw_before_lb(self, call):
        scheme = call.get("Scheme") or "internet-facing"
        if scheme != "internet-facing" or (call.get("Type") or "application") == "gateway":
            return
        subnets = call.values("Subnets") + call.ending("SubnetId")
        if not subnets:
            return
        for vpc in self.up.vpc_of_subnets(call, subnets) or []:
            if not self.up.gateway_attached(call, vpc):
                raise Refused("igw-before-lb", "InvalidSubnet", f"VPC {vpc} has no internet gateway")

    # =================================================================================================
    # eventual-consistency. Just after creation, other calls do not see the resource yet.
    # Sources: EC2 API eventual consistency,
    # https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html (InvalidGroup.NotFound
    # right after CreateSecurityGroup) ; IAM, https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency ;
    # instance profiles in RunInstances / launch templates: hashicorp/terraform-provider-aws#29866,
    # #24910, PR #5633 ("You must use a valid fully-formed launch template. Value (...) for parameter
    # iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name") ; certificates:
    # hashicorp/terraform#10180 (CertificateNotFound, retried 5 min) ; target groups:
    # hashicorp/terraform-provider-aws#20454, PR #40088 (TargetGroupNotFound).
    # =================================================================================================
    def consistency_groups(self, call):
        for group in call.ending("GroupId") + [self.sg_by_name(call, n) for n in call.ending("GroupName")]:
            if group and self.young("sg", group, self.t.sg):
                raise Refused("eventual-consistency", "InvalidGroup.NotFound", f"The security group '{group}' does not exist")

    def clocks_state_filter(self, call):
        self.clocks.widen_state_filter(call)

    def clocks_certificate_filter(self, call):
        self.clocks.widen_certificate_filter(call)

    def sg_by_name(self, call, name):
        """GroupName names a group of the default VPC: one made without a VpcId."""
        with self.lock:
            return self.sg_names.get(("", name))

    def profile_of(self, call, prefix=""):
        """(name or ARN, "name"|"arn") of the instance profile a RunInstances or a group would use."""
        name, arn = call.get(prefix + "IamInstanceProfile.Name"), call.get(prefix + "IamInstanceProfile.Arn")
        if name or arn:
            return (name, "name") if name else (arn, "arn")
        data = self.launch_data(call)
        profile = data.get("IamInstanceProfile", {})
        if profile.get("Name"):
            return profile["Name"], "name"
        if profile.get("Arn"):
            return profile["Arn"], "arn"
        return None, None

    def launch_spec(self, call):
        """(template id, name, version) named by a RunInstances or auto-scaling call, or by the group."""
        for prefix in ("LaunchTemplate.", "MixedInstancesPolicy.LaunchTemplate.LaunchTemplateSpecification."):
            lt_id, lt_name = call.get(prefix + "LaunchTemplateId"), call.get(prefix + "LaunchTemplateName")
            if lt_id or lt_name:
                return lt_id, lt_name, call.get(prefix + "Version")
        if call.service == "autoscaling" and call.action != "CreateAutoScalingGroup":
            for group in self.up.groups(call, [call.get("AutoScalingGroupName")]):
                spec = group.get("LaunchTemplate") or group.get("MixedInstancesPolicy", {}).get("LaunchTemplate", {}).get("LaunchTemplateSpecification")
                if spec:
                    return spec.get("LaunchTemplateId"), spec.get("LaunchTemplateName"), spec.get("Version")
        return None, None, None

    def launch_data(self, call):
        if "launch_data" not in call.memo:
            lt_id, lt_name, version = self.launch_spec(call)
            call.memo["launch_data"] = self.template_data(call, lt_id, lt_name, version) if (lt_id or lt_name) else {}
        return call.memo["launch_data"]

    def consistency_profile(self, call):
        profile, kind = self.profile_of(call)
        if not profile:
            return
        name = profile.rsplit("/", 1)[-1] if kind == "arn" else profile
        if not self.young("profile", name, self.t.profile):
            return
        what = "name" if kind == "name" else "ARN"
        message = f"Value ({profile}) for parameter iamInstanceProfile.{kind} is invalid. Invalid IAM Instance Profile {what}"
        if call.service == "ec2":
            raise Refused("eventual-consistency", "InvalidParameterValue", message)
        raise Refused("eventual-consistency", "ValidationError", "You must use a valid fully-formed launch template. " + message)

    def consistency_target_groups(self, call):
        if call.service == "autoscaling":
            for arn in call.values("TargetGroupARNs"):
                if self.young("tg", arn, self.t.tg):
                    raise Refused("eventual-consistency", "ValidationError", "Provided Target Groups may not be valid. Please ensure they exist and try again.")
            return
        for arn in call.ending("TargetGroupArn"):
            if self.young("tg", arn, self.t.tg):
                raise Refused("eventual-consistency", "TargetGroupNotFound", f"Target groups '{arn}' not found")

    def listener_certificates(self, call):
        """A certificate the proxy saw requested: not before it is ISSUED (clocks), then not found for a while."""
        for arn in call.ending("CertificateArn"):
            with self.lock:
                requested = ("cert", arn) in self.born
            if not requested:
                continue
            status = self.clocks.certificate_status(arn, self.up.certificate_status(call, arn))
            if status != "ISSUED":
                if "clocks" in self.on:
                    # moto takes a PENDING_VALIDATION certificate; AWS does not (moto.md, HTTPS listener row).
                    raise Refused("clocks", "UnsupportedCertificate", f"The certificate '{arn}' must have a fully-qualified domain name, a supported signature, and a supported key size.")
                continue
            with self.lock:
                issued = self.cert_issued.setdefault(arn, self.now())
            if "eventual-consistency" in self.on and self.now() < issued + self.t.cert:
                raise Refused("eventual-consistency", "CertificateNotFound", f"Certificate '{arn}' not found")

    # =================================================================================================
    # route53. "InvalidChangeBatch: RRSet of type CNAME with DNS name example.com. is not permitted at
    # apex in zone example.com."; a CREATE of a record that exists: "[Tried to create resource record
    # set [name='x.example.com.', type='CNAME'] but it already exists]" (moto refuses that only when the
    # very same change was made before); a CNAME beside other records of the name; DELETE of a record
    # that is not there (moto answers InvalidInput).
    # Sources: https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/resource-record-sets-choosing-alias-non-alias.html
    # ("you can't create a CNAME record at the zone apex") ;
    # https://docs.aws.amazon.com/Route53/latest/APIReference/API_ChangeResourceRecordSets.html
    # (CREATE "returns an error if the record already exists") ; RFC 1034 3.6.2 (CNAME and other data).
    # =================================================================================================
    def route53(self, call):
        zone_id = call.path.split("?")[0].rstrip("/").split("/")[-2]
        root = parse_xml(call.body)
        found = self.up.zone(call, zone_id) if root is not None else None
        if not found:
            return
        zone, records = found
        zone = norm_name(zone)
        have = {(norm_name(n), t, s) for n, t, s in records}
        problems = []
        for change in find_all(root, "Change"):
            action = child_text(change, "Action")
            rrset = child(change, "ResourceRecordSet")
            if rrset is None:
                continue
            name, kind, ident = norm_name(child_text(rrset, "Name")), child_text(rrset, "Type"), child_text(rrset, "SetIdentifier")
            key = (name, kind, ident)
            if action in ("CREATE", "UPSERT"):
                if kind == "CNAME" and name == zone:
                    problems.append(f"RRSet of type CNAME with DNS name {name} is not permitted at apex in zone {zone}")
                elif action == "CREATE" and key in have:
                    problems.append(f"Tried to create resource record set [name='{name}', type='{kind}'] but it already exists")
                elif any(n == name and ((kind == "CNAME") != (t == "CNAME")) for n, t, _ in have):
                    problems.append(f"RRSet of type {kind} with DNS name {name} is not permitted as it conflicts with other records with the same DNS name in zone {zone}")
                have.add(key)
            elif action == "DELETE":
                if key not in have:
                    problems.append(f"Tried to delete resource record set [name='{name}', type='{kind}'] but it was not found")
                have.discard(key)
        if problems:
            raise Refused("route53", "InvalidChangeBatch", "[" + ", ".join(problems) + "]")

    # =================================================================================================
    # marketplace-opt-in. A Marketplace image is found by DescribeImages in any account, but launching it
    # without accepting its terms fails: "OptInRequired: In order to use this AWS Marketplace product
    # you need to accept terms and subscribe. To do so please visit
    # https://aws.amazon.com/marketplace/pp?sku=...", also for a RunInstances dry run (that is how
    # Karpenter checks launch permission); an auto-scaling group is created, and its launches fail in
    # its scaling activities.
    # Sources: StreisandEffect/streisand#86 ; hashicorp/packer#2346 ; EC2 error codes (OptInRequired,
    # DryRunOperation), https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html
    # =================================================================================================
    def unsubscribed(self, call, image):
        """The product code to subscribe to, if image is not subscribed."""
        if not image:
            return None
        if image in self.images:
            return self.images[image]
        if self.codes:
            with self.lock:
                codes = self.image_codes.get(image)
            if codes is None:
                codes = self.up.product_codes(call, image)
                with self.lock:
                    self.image_codes[image] = codes
            return next((c for c in codes if c in self.codes), None)
        return None

    def marketplace_run(self, call):
        sku = self.unsubscribed(call, call.get("ImageId") or self.launch_data(call).get("ImageId"))
        if sku:
            raise Refused("marketplace-opt-in", "OptInRequired", MARKETPLACE.format(sku=sku), status=401)

    def marketplace_group(self, call):
        """The group is made or changed as asked, but moto is told to launch nothing; the failure shows
        in DescribeScalingActivities and the sizes the caller asked for in DescribeAutoScalingGroups."""
        name = call.get("AutoScalingGroupName")
        has_spec = any(k.startswith(("LaunchTemplate.", "MixedInstancesPolicy.")) for k, _ in call.query)
        if call.action != "CreateAutoScalingGroup" and not has_spec and name not in self.starved:
            return  # sizes only, for a group that launches fine
        sku = self.unsubscribed(call, self.launch_data(call).get("ImageId"))
        with self.lock:
            if not sku:
                self.starved.pop(name, None)
                return
            intended = dict(self.starved.get(name, {}).get("sizes", {}))
            for param in ("MinSize", "DesiredCapacity"):
                if call.get(param) is not None:
                    intended[param] = call.get(param)
            self.starved[name] = {"sizes": intended, "message": MARKETPLACE.format(sku=sku), "since": time.time()}
            self.refusals["marketplace-opt-in"] += 1
        call.query = [(k, "0" if k in ("MinSize", "DesiredCapacity") else v) for k, v in call.query]
        call.body = call.encoded()

    # =================================================================================================
    # instance-type-stopped. Only a stopped instance changes its type: ModifyInstanceAttribute of
    # InstanceType (or Attribute=instanceType) on a pending or running instance is refused with
    # "IncorrectInstanceState: The instance 'i-...' is not in the 'stopped' state." moto changes a
    # running instance's type.
    # Sources: EC2 user guide, "Change the instance type" ("you must stop the instance"),
    # https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/change-instance-type-of-ebs-backed-instance.html ;
    # API ModifyInstanceAttribute ("To modify some attributes, the instance must be stopped"),
    # https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ModifyInstanceAttribute.html ;
    # EC2 error codes (IncorrectInstanceState), https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html
    # =================================================================================================
    def instance_type_stopped(self, call):
        if call.get("InstanceType.Value") is None and (call.get("Attribute") or "").lower() != "instancetype":
            return
        instance = call.get("InstanceId")
        found = self.up.instances(call, ids=[instance]) if instance else []
        if found and found[0]["state"] != "stopped":
            raise Refused("instance-type-stopped", "IncorrectInstanceState", f"The instance '{instance}' is not in the 'stopped' state.")

    # =================================================================================================
    # volume-no-shrink. An EBS volume only grows: "InvalidParameterValue: New size cannot be smaller
    # than existing size". moto shrinks it.
    # Sources: EBS user guide, "Requirements for Amazon EBS volume modifications" ("You can't decrease
    # the size of an EBS volume"), https://docs.aws.amazon.com/ebs/latest/userguide/modify-volume-requirements.html ;
    # API ModifyVolume, https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ModifyVolume.html
    # =================================================================================================
    def volume_no_shrink(self, call):
        size, volume = call.get("Size"), self.volume_of(call, call.get("VolumeId"))
        if size is not None and volume and size.isdigit() and int(size) < volume["Size"]:
            raise Refused("volume-no-shrink", "InvalidParameterValue", "New size cannot be smaller than existing size")

    # =================================================================================================
    # attach-volume. AttachVolume of a volume in another availability zone than the instance
    # ("InvalidVolume.ZoneMismatch: The volume 'vol-...' is not in the same availability zone as
    # instance 'i-...'"), at a device the instance already uses ("InvalidParameterValue: Invalid value
    # '/dev/sdf' for unixDevice. Attachment point /dev/sdf is already in use"; /dev/sdf and /dev/xvdf
    # are one attachment point), of a volume attached elsewhere ("VolumeInUse: vol-... is already
    # attached to an instance") or otherwise not available ("IncorrectState"). moto attaches across
    # zones, stacks two volumes at one device, and moves an attached volume silently.
    # Sources: API AttachVolume ("The volume and instance must be within the same Availability Zone"),
    # https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_AttachVolume.html ; EBS user guide,
    # "Attach a volume" (the volume must be available), https://docs.aws.amazon.com/ebs/latest/userguide/ebs-attaching-volume.html ;
    # EC2 error codes, https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html
    # =================================================================================================
    def attach_volume(self, call):
        volume_id, instance_id, device = call.get("VolumeId"), call.get("InstanceId"), call.get("Device") or ""
        volume = self.volume_of(call, volume_id)
        instance = self.ec2_items(call, "describe_instances", "Reservations", InstanceIds=[instance_id]) if instance_id else []
        if not volume or not instance:
            return  # moto answers what does not exist
        instance = instance[0]["Instances"][0]
        if volume["State"] == "in-use":
            raise Refused("attach-volume", "VolumeInUse", f"{volume_id} is already attached to an instance")
        if volume["State"] != "available":
            raise Refused("attach-volume", "IncorrectState", f"{volume_id} is not 'available'.")
        zone = instance.get("Placement", {}).get("AvailabilityZone")
        if zone and volume["AvailabilityZone"] != zone:
            raise Refused("attach-volume", "InvalidVolume.ZoneMismatch", f"The volume '{volume_id}' is not in the same availability zone as instance '{instance_id}'")
        used = [instance.get("RootDeviceName") or ""] + [m.get("DeviceName", "") for m in instance.get("BlockDeviceMappings", [])]
        attached = self.ec2_items(call, "describe_volumes", "Volumes", Filters=[{"Name": "attachment.instance-id", "Values": [instance_id]}])
        used += [a.get("Device", "") for v in attached for a in v.get("Attachments", []) if a.get("InstanceId") == instance_id]
        if any(attachment_point(d) == attachment_point(device) for d in used if d):
            raise Refused("attach-volume", "InvalidParameterValue", f"Invalid value '{device}' for unixDevice. Attachment point {device} is already in use")

    def volume_of(self, call, volume_id):
        found = self.ec2_items(call, "describe_volumes", "Volumes", VolumeIds=[volume_id]) if volume_id else []
        return found[0] if found else None

    def ec2_items(self, call, method, key, **kwargs):
        """What an EC2 Describe call of moto lists under key ([] when it refuses: let moto answer the call)."""
        from upstream import FAILED  # boto3: only when a cloud is asked for

        try:
            return getattr(self.up.of("ec2", call), method)(**kwargs)[key]
        except FAILED:
            return []


def attachment_point(device):
    """/dev/sdf, sdf, /dev/xvdf: one attachment point."""
    name = device.removeprefix("/dev/")
    return "sd" + name[3:] if name.startswith("xvd") else name
