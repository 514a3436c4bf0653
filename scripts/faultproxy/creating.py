"""The strict cloud's rules about creating (real-aws.md, "Creating"): igw-before-lb,
eventual-consistency, route53, marketplace-opt-in; about changing instances and EBS volumes:
instance-type-stopped, volume-no-shrink, attach-volume, volume-modification; about capacity:
no-capacity; and about load balancer access logs: access-log-race. Mixed into cloud.Cloud.
"""

import datetime
import fnmatch
import json
import re
import time
import urllib.parse

from awswire import Refused, child, child_text, edit_xml, find_all, parse_xml, set_child

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

    # ---- flags and state of the rules below ------------------------------------------------------
    # faultproxy.py hands them over through configure_creating; until it does, nothing bites.
    # The state is made at first use (creating_state), so that cloud.Cloud.__init__ needs no line.
    no_capacity = {}  # instance type -> zones without capacity (None: every zone), from --no-capacity

    def configure_creating(self, options):
        """--no-capacity, --volume-modification-s, --volume-modifications-per-day, --volume-modification-day-s, --bucket-policy-s."""
        self.no_capacity = parse_no_capacity(options.no_capacity)
        for name in CREATING_TIMES:
            setattr(self.t, name, getattr(options, name))

    def creating_time(self, name):
        return getattr(self.t, name, CREATING_TIMES[name])

    def creating_state(self, name):
        """A dict of the rules below, per cloud (setdefault is atomic; use it under self.lock)."""
        return self.__dict__.setdefault("_" + name, {})

    def dry_run(self, call):
        return (call.get("DryRun") or "").lower() == "true"

    # =================================================================================================
    # no-capacity. RunInstances of an instance type AWS has no capacity for in the zone asked, and
    # StartInstances of a stopped instance of that type (a stopped instance starts again in its own
    # zone, on new hardware, and needs capacity like a launch), are refused with
    # "InsufficientInstanceCapacity: We currently do not have sufficient t3.large capacity in the
    # Availability Zone you requested (us-east-1a). Our system will be working on provisioning
    # additional capacity. You can currently get t3.large capacity by not specifying an Availability
    # Zone in your request or choosing us-east-1b, us-east-1c." with HTTP 500 (a server error: the
    # SDKs retry it a few times, then give up). Bites only for the types named by --no-capacity TYPE
    # (every zone) or TYPE@ZONE (that zone); the default names none. A dry run is not refused (it
    # checks permissions, not capacity). A launch that names no zone is refused only when no zone has
    # the type (AWS would pick one that has it). moto has no notion of capacity: it launches and starts
    # anything.
    # Sources: EC2 error codes, server errors (InsufficientInstanceCapacity, "There is not enough
    # capacity to fulfill your request"), https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html ;
    # EC2 user guide, "Troubleshoot instance launch issues: Insufficient instance capacity" (and for
    # stopped instances: "If you get this error when you try to start an instance..."),
    # https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/troubleshooting-launch.html#troubleshooting-launch-capacity
    # =================================================================================================
    def lacks_capacity(self, kind, zone):
        zones = self.no_capacity.get(kind, ())
        return zones is None or (zone is not None and zone in zones)

    def no_capacity_check(self, call):
        if not self.no_capacity or self.dry_run(call):
            return
        if call.action == "RunInstances":
            data = self.launch_data(call)
            kind = call.get("InstanceType") or data.get("InstanceType") or "m1.small"  # AWS's default type
            if kind not in self.no_capacity:
                return
            zone = self.launch_zone(call, data)
            if self.lacks_capacity(kind, zone):
                raise self.insufficient_capacity(call, kind, zone)
            return
        ids = sorted(set(call.values("InstanceId")))
        for reservation in self.ec2_items(call, "describe_instances", "Reservations", InstanceIds=ids) if ids else []:
            for instance in reservation["Instances"]:
                kind, zone = instance.get("InstanceType"), instance.get("Placement", {}).get("AvailabilityZone")
                if instance["State"]["Name"] == "stopped" and self.lacks_capacity(kind, zone):
                    raise self.insufficient_capacity(call, kind, zone)

    def launch_zone(self, call, data):
        """The zone a RunInstances asks for (its placement or subnet, or its template's), or None."""
        zone = call.get("Placement.AvailabilityZone") or data.get("Placement", {}).get("AvailabilityZone")
        subnet = call.get("SubnetId") or call.get("NetworkInterface.1.SubnetId")
        subnet = subnet or next((n.get("SubnetId") for n in data.get("NetworkInterfaces", []) if n.get("SubnetId")), None)
        if not zone and subnet:
            found = self.ec2_items(call, "describe_subnets", "Subnets", SubnetIds=[subnet])
            zone = found[0].get("AvailabilityZone") if found else None
        return zone

    def insufficient_capacity(self, call, kind, zone):
        if zone is None:
            return Refused("no-capacity", "InsufficientInstanceCapacity", "Insufficient capacity.", status=500)
        with self.lock:
            zones = self.creating_state("zones").get(call.region)
        if zones is None:
            zones = sorted(z["ZoneName"] for z in self.ec2_items(call, "describe_availability_zones", "AvailabilityZones"))
            with self.lock:
                self.creating_state("zones")[call.region] = zones
        others = [z for z in zones if z != zone and not self.lacks_capacity(kind, z)]
        message = (f"We currently do not have sufficient {kind} capacity in the Availability Zone you requested ({zone}). "
                   "Our system will be working on provisioning additional capacity.")
        if others:
            message += f" You can currently get {kind} capacity by not specifying an Availability Zone in your request or choosing {', '.join(others)}."
        return Refused("no-capacity", "InsufficientInstanceCapacity", message, status=500)

    # =================================================================================================
    # volume-modification. A ModifyVolume starts a modification that goes modifying -> optimizing ->
    # completed; until it is completed the volume cannot be modified again: "IncorrectModificationState:
    # Volume vol-... cannot be modified in modification state MODIFYING" (or OPTIMIZING). And a volume
    # is modified at most 4 times in a rolling 24 hours (the old rule was one modification per 6 hours):
    # "VolumeModificationRateExceeded" (the code AWS answers; AWS's message under the 2026 limits is not
    # documented, so ours says what the limit is). moto completes every modification at once, lists
    # all of a volume's modifications, and ignores a modification-state filter (it matches nothing).
    # Here a modification the proxy saw is modifying for the first half of --volume-modification-s,
    # optimizing for the second half (Progress climbing to 100), then completed; ModifyVolume's and
    # DescribeVolumesModifications' answers say so, the latter lists only each volume's most recent
    # modification (as AWS does), and a modification-state filter is applied by the proxy.
    # Sources: API ModifyVolume ("you must wait for that modification to reach the completed state
    # before you can initiate another modification for the same volume. You can modify a volume up to
    # four times within a rolling 24-hour period"), https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ModifyVolume.html ;
    # EBS user guide, "Requirements for Amazon EBS volume modifications",
    # https://docs.aws.amazon.com/ebs/latest/userguide/modify-volume-requirements.html ; "Monitor the
    # progress of volume modifications" (modifying, optimizing, completed),
    # https://docs.aws.amazon.com/ebs/latest/userguide/monitoring-volume-modifications.html ;
    # API DescribeVolumesModifications ("Describes the most recent volume modification request for the
    # specified EBS volumes"), https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeVolumesModifications.html ;
    # the codes as AWS answered them: sodafoundation/strato#1120 (IncorrectModificationState ...
    # "cannot be modified in modification state MODIFYING", 400), #1094 (VolumeModificationRateExceeded, 400).
    # =================================================================================================
    def volume_changes(self, call, volume):
        with self.lock:
            return list(self.creating_state("volume_changes").get((call.account, call.region, volume), []))

    def volume_change_state(self, change):
        """(state, progress) of a modification the proxy saw start."""
        elapsed, total = self.now() - change["at"], self.creating_time("volume_modification_s")
        if elapsed >= total:
            return "completed", 100
        return ("modifying" if elapsed < total / 2 else "optimizing"), int(100 * elapsed / total)

    def volume_modification(self, call):
        volume = call.get("VolumeId")
        if not volume or self.dry_run(call):
            return
        changes = self.volume_changes(call, volume)
        if changes:
            state, _ = self.volume_change_state(changes[-1])
            if state != "completed":
                raise Refused("volume-modification", "IncorrectModificationState", f"Volume {volume} cannot be modified in modification state {state.upper()}")
        limit, window = self.creating_time("volume_modifications_per_day"), self.creating_time("volume_modification_day_s")
        if len([c for c in changes if self.now() < c["at"] + window]) >= limit:
            raise Refused("volume-modification", "VolumeModificationRateExceeded",
                          f"You've reached the maximum modification rate per volume limit. You can modify a volume up to {limit} times within a rolling 24-hour period.")

    def record_volume_modification(self, call, data):
        volume = call.get("VolumeId")
        if volume and not self.dry_run(call):
            with self.lock:
                self.creating_state("volume_changes").setdefault((call.account, call.region, volume), []).append({"at": self.now(), "wall": time.time()})

    def volume_modification_filter(self, call):
        """A modification-state filter is the proxy's to apply (moto's matches nothing): taken out of the call."""
        filters = call.filters()
        wanted = [values for name, values in filters.values() if name == "modification-state"]
        if not wanted:
            return
        call.memo["modification_states"] = {v for values in wanted for v in values}
        kept = [f for _, f in sorted(filters.items()) if f[0] != "modification-state"]
        call.query = [(k, v) for k, v in call.query if not k.startswith("Filter.")]
        for n, (name, values) in enumerate(kept, start=1):
            call.query.append((f"Filter.{n}.Name", name))
            call.query += [(f"Filter.{n}.Value.{m}", value) for m, value in enumerate(values, start=1)]
        call.body = call.encoded()

    def edit_volume_change(self, call, item):
        """Write the proxy's clock into one VolumeModification element; True if it changed it."""
        changes = self.volume_changes(call, child_text(item, "volumeId"))
        if not changes:
            return False  # not made through the proxy: as moto says
        state, progress = self.volume_change_state(changes[-1])
        set_child(item, "modificationState", state)
        set_child(item, "progress", str(progress))
        end = child(item, "endTime")
        if state != "completed":
            if end is not None:
                item.remove(end)
        else:
            finished = datetime.datetime.fromtimestamp(changes[-1]["wall"] + self.creating_time("volume_modification_s"), datetime.timezone.utc)
            set_child(item, "endTime", finished.strftime("%Y-%m-%dT%H:%M:%S.000Z"))
        return True

    def volume_modification_answer(self, call, data):
        """ModifyVolume's answer: the modification it started is modifying, not completed."""
        if "volume-modification" not in self.on:
            return data
        return edit_xml(data, lambda root: any([self.edit_volume_change(call, item) for item in find_all(root, "volumeModification")]))

    def volume_modifications_answer(self, call, data):
        """DescribeVolumesModifications: each volume's most recent modification, on the proxy's clock."""
        if "volume-modification" not in self.on:
            return data
        wanted = call.memo.get("modification_states")

        def edit(root):
            changed = False
            for listing in find_all(root, "volumeModificationSet"):
                items = list(listing)
                newest = {child_text(item, "volumeId"): item for item in items}  # moto lists them oldest first
                for item in items:
                    if newest[child_text(item, "volumeId")] is not item:
                        listing.remove(item)
                        changed = True
                        continue
                    changed = self.edit_volume_change(call, item) or changed
                    if wanted is not None and child_text(item, "modificationState") not in wanted:
                        listing.remove(item)
                        changed = True
            return changed

        return edit_xml(data, edit)

    # =================================================================================================
    # access-log-race. Turning an Application Load Balancer's access logs on
    # (ModifyLoadBalancerAttributes access_logs.s3.enabled=true) makes Elastic Load Balancing check
    # that it may write to the bucket; just after the bucket's policy was put, the new policy is not
    # visible to it yet, and the call fails: "InvalidConfigurationRequest: Access Denied for bucket:
    # BUCKET. Please check S3bucket permission" (400). Here: within --bucket-policy-s of a
    # PutBucketPolicy on that bucket seen through the proxy. The same answer, at any time, when the
    # bucket does not exist, has no policy, or its policy does not let the region's log delivery put
    # objects under PREFIX/AWSLogs/ACCOUNT/ (the region's Elastic Load Balancing account in regions
    # available before August 2022, or the service principal logdelivery.elasticloadbalancing.amazonaws.com,
    # taken in every region here), or denies it. Application Load Balancers only. moto checks neither:
    # it takes any bucket name.
    # Sources: ELB user guide, "Enable access logs for your Application Load Balancer" (bucket
    # requirements, "Attach a policy to your S3 bucket"),
    # https://docs.aws.amazon.com/elasticloadbalancing/latest/application/enable-access-logging.html ;
    # the race: hashicorp/terraform-provider-aws#12010 ("ALB logging fails dependency on bucket
    # policy": retried, it goes through after tens of seconds), aws/copilot-cli#4169 ; the answer:
    # aws/aws-cdk#5758, widdix/aws-cf-templates#349, kubernetes-sigs/aws-load-balancer-controller#1956.
    # =================================================================================================
    def access_log_race(self, call):
        attributes = {}
        for key, value in call.pairs():
            m = re.match(r"Attributes\.(?:member\.)?(\d+)\.(Key|Value)$", key)
            if m:
                attributes.setdefault(m.group(1), {})[m.group(2)] = value
        attributes = {a.get("Key"): a.get("Value", "") for a in attributes.values()}
        if (attributes.get("access_logs.s3.enabled") or "").lower() != "true":
            return
        found = self.up.load_balancers(call, [call.get("LoadBalancerArn")]) if call.get("LoadBalancerArn") else []
        if not found or found[0].get("Type") != "application":
            return  # a Network Load Balancer's logs are delivered by another principal: not checked here
        bucket, prefix = attributes.get("access_logs.s3.bucket"), attributes.get("access_logs.s3.prefix")
        if bucket is None or prefix is None:
            current = self.lb_attributes(call, call.get("LoadBalancerArn"))
            bucket = current.get("access_logs.s3.bucket", "") if bucket is None else bucket
            prefix = current.get("access_logs.s3.prefix", "") if prefix is None else prefix
        if not bucket:
            return  # AWS refuses that otherwise: moto answers
        denied = Refused("access-log-race", "InvalidConfigurationRequest", f"Access Denied for bucket: {bucket}. Please check S3bucket permission")
        with self.lock:
            put = self.creating_state("bucket_policies").get((call.account, bucket))
        if put is not None and self.now() < put + self.creating_time("bucket_policy_s"):
            raise denied
        policy = self.bucket_policy(call, bucket)
        if policy is not None and not log_delivery_allowed(policy, call.region, call.account or MOTO_ACCOUNT, bucket, prefix or ""):
            raise denied

    def lb_attributes(self, call, arn):
        from upstream import FAILED  # boto3: only when a cloud is asked for

        try:
            found = self.up.of("elbv2", call).describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]
        except FAILED:
            return {}
        return {a["Key"]: a.get("Value", "") for a in found}

    def bucket_policy(self, call, bucket):
        """The bucket's policy text; "" when it has none or does not exist; None when moto cannot be asked."""
        from upstream import FAILED  # boto3: only when a cloud is asked for

        try:
            return self.up.of("s3", call).get_bucket_policy(Bucket=bucket)["Policy"]
        except FAILED as e:
            code = getattr(e, "response", {}).get("Error", {}).get("Code")
            return "" if code in ("NoSuchBucket", "NoSuchBucketPolicy") else None

    def record_bucket_policy(self, call, data):
        """S3 is REST: its calls carry no Action, so every S3 call comes here; a PUT ?policy is PutBucketPolicy."""
        if call.method != "PUT" or "policy" not in dict(call.url_query):
            return
        bucket = s3_bucket(call)
        if bucket:
            with self.lock:
                self.creating_state("bucket_policies")[(call.account, bucket)] = self.now()


def attachment_point(device):
    """/dev/sdf, sdf, /dev/xvdf: one attachment point."""
    name = device.removeprefix("/dev/")
    return "sd" + name[3:] if name.startswith("xvd") else name


CREATING_TIMES = {  # options of faultproxy.py (seconds, and a count) -> their defaults
    "volume_modification_s": 1.0, "volume_modifications_per_day": 4, "volume_modification_day_s": 86400.0, "bucket_policy_s": 1.0,
}
MOTO_ACCOUNT = "123456789012"  # moto's default account, when a call names none
# The Elastic Load Balancing account that writes access logs, in regions available before August 2022
# (ELB user guide, "Enable access logs for your Application Load Balancer", "Attach a policy to your S3 bucket").
ELB_LOG_ACCOUNTS = {
    "us-east-1": "127311923021", "us-east-2": "033677994240", "us-west-1": "027434742980", "us-west-2": "797873946194",
    "af-south-1": "098369216593", "ap-east-1": "754344448648", "ap-southeast-3": "589379963580", "ap-south-1": "718504428378",
    "ap-northeast-3": "383597477331", "ap-northeast-2": "600734575887", "ap-southeast-1": "114774131450",
    "ap-southeast-2": "783225319266", "ap-northeast-1": "582318560864", "ca-central-1": "985666609251",
    "eu-central-1": "054676820928", "eu-west-1": "156460612806", "eu-west-2": "652711504416", "eu-south-1": "635631232127",
    "eu-west-3": "009996457667", "eu-north-1": "897822967062", "me-south-1": "076674570225", "sa-east-1": "507241528517",
    "us-gov-west-1": "048591011584", "us-gov-east-1": "190560391635",
}
LOG_DELIVERY_SERVICE = "logdelivery.elasticloadbalancing.amazonaws.com"


def parse_no_capacity(entries):
    """--no-capacity t3.large,c5.xlarge@us-east-1a -> {type: zones without it (None: every zone)}."""
    out = {}
    for entry in entries or ():
        kind, _, zone = entry.partition("@")
        if not zone:
            out[kind] = None
        elif out.get(kind, set()) is not None:
            out.setdefault(kind, set()).add(zone)
    return out


def partition_of(region):
    return "aws-us-gov" if region.startswith("us-gov-") else "aws-cn" if region.startswith("cn-") else "aws"


def as_list(value):
    return value if isinstance(value, list) else [] if value is None else [value]


def log_delivery_allowed(policy, region, account, bucket, prefix):
    """Whether a bucket policy (JSON text) lets the region's ELB log delivery put an access log, and denies it not.
    Statements are matched on Principal, Action and Resource (with IAM's * and ? wildcards); NotPrincipal,
    NotAction and NotResource statements match nothing here."""
    try:
        statements = as_list(json.loads(policy).get("Statement"))
    except (ValueError, AttributeError):
        return False
    partition = partition_of(region)
    target = f"arn:{partition}:s3:::{bucket}/{prefix + '/' if prefix else ''}AWSLogs/{account}/elasticloadbalancing/{region}/access.log.gz"
    elb = ELB_LOG_ACCOUNTS.get(region)
    writers = {"*"} | ({f"arn:{partition}:iam::{elb}:root", elb} if elb else set())

    def matches(statement):
        principal = statement.get("Principal")
        if principal == "*":
            named = True
        elif isinstance(principal, dict):
            named = bool(writers & set(as_list(principal.get("AWS")))) or LOG_DELIVERY_SERVICE in as_list(principal.get("Service"))
        else:
            named = False
        acts = any(fnmatch.fnmatchcase("s3:putobject", a.lower()) for a in as_list(statement.get("Action")) if isinstance(a, str))
        covers = any(fnmatch.fnmatchcase(target, r) for r in as_list(statement.get("Resource")) if isinstance(r, str))
        return named and acts and covers

    allowed = denied = False
    for statement in statements:
        if isinstance(statement, dict) and matches(statement):
            allowed |= statement.get("Effect") == "Allow"
            # Conditions are not evaluated: an Allow with one counts, a Deny with one does not (a
            # TLS-only Deny, aws:SecureTransport false, spares log delivery, which writes over TLS).
            denied |= statement.get("Effect") == "Deny" and not statement.get("Condition")
    return allowed and not denied


def s3_bucket(call):
    """The bucket of a path-style S3 request (/bucket/key), else of a virtual-hosted one (bucket.s3...)."""
    path = urllib.parse.urlparse(call.path).path
    first = path.lstrip("/").split("/", 1)[0]
    if first:
        return urllib.parse.unquote(first)
    host = (call.headers.get("Host") or "").split(":")[0]
    label = host.split(".", 1)[0]
    return label if "." in host and not label.isdigit() and label not in ("s3", "localhost") else None
