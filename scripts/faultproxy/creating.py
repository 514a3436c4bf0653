"""The strict cloud's rules about creating (real-aws.md, "Creating"): igw-before-lb,
eventual-consistency, route53, marketplace-opt-in. Mixed into cloud.Cloud.
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
