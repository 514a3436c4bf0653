"""The strict cloud's rules about deleting (real-aws.md, "Deleting"): delete-order,
mapped-public-addresses, lingering-enis, certificate-in-use, deletion-protection. Mixed into
cloud.Cloud.
"""

from awswire import Refused, find_all, parse_xml
from upstream import FAILED

LIVE = ["pending", "running", "stopping", "stopped", "shutting-down"]  # not yet terminated


class DeletingRules:
    # =================================================================================================
    # delete-order. Deleting what is still in use: DependencyViolation / ResourceInUse.
    # Source: EC2 API DeleteSecurityGroup / DeleteSubnet / DeleteVpc ("You must ... before you can
    # delete"), https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeleteVpc.html ; Auto Scaling
    # DeleteAutoScalingGroup ("To remove instances ... ForceDelete").
    # moto refuses none of these (moto.md, "Validation moto does / does not do").
    # =================================================================================================
    def delete_order(self, call):
        refusal = self.delete_order_refusal(call)
        if refusal:
            code, message = refusal
            raise Refused("delete-order", code, message)

    def delete_order_refusal(self, call):
        get = call.get
        live = lambda filters: self.up.instances(call, filters=filters + [{"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}])
        if call.action == "DeleteSecurityGroup":
            group = get("GroupId")
            if live([{"Name": "instance.group-id", "Values": [group]}]):
                return "DependencyViolation", f"resource {group} has a dependent object (instance)"
            for lb in self.up.load_balancers(call):
                if group in lb.get("SecurityGroups", []):
                    return "DependencyViolation", f"resource {group} has a dependent object (load balancer)"
            ec2 = self.up.of("ec2", call)
            for other in ec2.describe_security_groups()["SecurityGroups"]:
                for permission in other.get("IpPermissions", []):
                    if other["GroupId"] != group and any(p.get("GroupId") == group for p in permission.get("UserIdGroupPairs", [])):
                        return "DependencyViolation", f"resource {group} is referenced by {other['GroupId']}"
        if call.action == "DeleteSubnet":
            subnet = get("SubnetId")
            if live([{"Name": "subnet-id", "Values": [subnet]}]):
                return "DependencyViolation", f"subnet {subnet} has instances"
            for lb in self.up.load_balancers(call):
                if any(z.get("SubnetId") == subnet for z in lb.get("AvailabilityZones", [])):
                    return "DependencyViolation", f"subnet {subnet} has a load balancer"
        if call.action == "DeleteVpc":
            vpc = get("VpcId")
            ec2 = self.up.of("ec2", call)
            groups = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["SecurityGroups"]
            if any(g["GroupName"] != "default" for g in groups):
                return "DependencyViolation", f"vpc {vpc} has security groups"
            if ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vpc]}])["InternetGateways"]:
                return "DependencyViolation", f"vpc {vpc} has an attached internet gateway"
        if call.action == "DeleteAutoScalingGroup" and get("ForceDelete") != "true":
            if any(g["Instances"] for g in self.up.groups(call, [get("AutoScalingGroupName")])):
                return "ResourceInUse", "You cannot delete an AutoScalingGroup while there are instances in that group."
        return None

    # =================================================================================================
    # mapped-public-addresses. DetachInternetGateway while instances (not yet terminated), internet-
    # facing load balancers (also just deleted ones, whose interfaces linger) or NAT gateways map
    # public addresses in the VPC: "DependencyViolation: Network vpc-... has some mapped public
    # address(es). Please unmap those public address(es) before detaching the gateway."
    # Sources: hashicorp/terraform#497, hashicorp/terraform#1303 ; VPC user guide, "Detach an internet
    # gateway": https://docs.aws.amazon.com/vpc/latest/userguide/VPC_Internet_Gateway.html
    # =================================================================================================
    def mapped_public_addresses(self, call):
        vpc = call.get("VpcId")
        why = self.public_mapping(call, vpc)
        if why:
            message = f"Network {vpc} has some mapped public address(es). Please unmap those public address(es) before detaching the gateway."
            raise Refused("mapped-public-addresses", "DependencyViolation", message)

    def public_mapping(self, call, vpc):
        now = self.now()
        for i in self.up.instances(call, filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "instance-state-name", "Values": LIVE}]):
            if i["public"] or self.template_public(call, i["lt"]):
                return f"instance {i['id']}"
        with self.lock:
            for instance, held in self.shutting.items():
                if held["vpc"] == vpc and held["public"] and now < held["until"]:
                    return f"instance {instance} (shutting down)"
            for ghost in self.ghosts:
                if ghost["vpc"] == vpc and ghost["scheme"] == "internet-facing" and now < ghost["until"]:
                    return f"load balancer {ghost['arn']} (deleted, interfaces linger)"
        for lb in self.up.load_balancers(call):
            if lb.get("VpcId") == vpc and lb.get("Scheme", "internet-facing") == "internet-facing":
                return f"load balancer {lb['LoadBalancerArn']}"
        nats = self.up.nat_gateways(call, vpc)
        return f"NAT gateway {nats[0]}" if nats else None

    def template_public(self, call, lt):
        """moto gives auto-scaling instances no public address even when their template asks for one."""
        lt_id, version = lt
        if not lt_id:
            return False
        data = self.template_data(call, lt_id=lt_id, version=version)
        return any(str(n.get("AssociatePublicIpAddress")).lower() == "true" for n in data.get("NetworkInterfaces", []))

    # =================================================================================================
    # lingering-enis. A deleted load balancer's network interfaces keep its security groups and subnets
    # in use for minutes; an instance stays shutting-down for a while and holds its groups and subnet:
    # DeleteSecurityGroup "DependencyViolation: resource sg-... has a dependent object", DeleteSubnet /
    # DeleteVpc "DependencyViolation: The subnet 'subnet-...' has dependencies and cannot be deleted."
    # Sources: hashicorp/terraform-provider-aws#40 (and Terraform's 15 min security-group delete
    # timeout, https://registry.terraform.io/providers/hashicorp/aws/latest/docs/resources/security_group#timeouts) ;
    # EC2 instance lifecycle (shutting-down), https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-instance-lifecycle.html
    # =================================================================================================
    def lingering_enis(self, call):
        now = self.now()
        if call.action == "DeleteSecurityGroup":
            group = call.get("GroupId") or self.up.group_id(call, call.get("GroupName"))
            message, holds = f"resource {group} has a dependent object", lambda held: group in held["sgs"]
        elif call.action == "DeleteSubnet":
            subnet = call.get("SubnetId")
            message, holds = f"The subnet '{subnet}' has dependencies and cannot be deleted.", lambda held: subnet in held["subnets"]
        else:
            vpc = call.get("VpcId")
            message, holds = f"The vpc '{vpc}' has dependencies and cannot be deleted.", lambda held: held["vpc"] == vpc
        with self.lock:
            self.ghosts = [g for g in self.ghosts if now < g["until"]]
            holders = list(self.ghosts) + [h for h in self.shutting.values() if now < h["until"]]
        if any(holds(h) for h in holders):
            raise Refused("lingering-enis", "DependencyViolation", message)

    def prepare_delete_load_balancer(self, call):
        arn = call.get("LoadBalancerArn")
        found = self.up.load_balancers(call, [arn]) if arn else []
        if found:
            lb = found[0]
            call.memo["ghost"] = {
                "arn": arn,
                "vpc": lb.get("VpcId"),
                "subnets": {z.get("SubnetId") for z in lb.get("AvailabilityZones", [])},
                "sgs": set(lb.get("SecurityGroups", [])),
                "scheme": lb.get("Scheme", "internet-facing"),
            }
            call.memo["certs"] = {c["CertificateArn"] for l in self.up.listeners(call, lb_arn=arn) for c in l.get("Certificates", [])}

    def record_delete_load_balancer(self, call, data):
        ghost = call.memo.get("ghost")
        now = self.now()
        with self.lock:
            if ghost:
                self.ghosts.append({**ghost, "until": now + self.t.linger})
            for cert in call.memo.get("certs", ()):
                self.cert_released[cert] = now

    def prepare_terminate(self, call):
        call.memo["dying"] = self.holdings(call, self.up.instances(call, ids=call.values("InstanceId")))

    def holdings(self, call, instances):
        """What instances hold while shutting down (public: before termination unmaps it)."""
        return [
            {"id": i["id"], "vpc": i["vpc"], "subnets": {i["subnet"]}, "sgs": i["sgs"],
             "public": bool(i["public"] or self.template_public(call, i["lt"]))}
            for i in instances if i["state"] not in ("shutting-down", "terminated")
        ]

    def record_terminate(self, call, data):
        self.start_shutting(call.memo.get("dying", ()))

    def start_shutting(self, dying):
        until = self.now() + self.t.shutting_down
        with self.lock:
            for held in dying:
                self.shutting[held["id"]] = {**held, "until": until}

    # =================================================================================================
    # certificate-in-use. DeleteCertificate while a listener uses the certificate, and for a while after
    # the last one let it go: "ResourceInUseException: Certificate arn:... in use".
    # Sources: ACM API DeleteCertificate (ResourceInUseException),
    # https://docs.aws.amazon.com/acm/latest/APIReference/API_DeleteCertificate.html ;
    # hashicorp/terraform-provider-aws#3866 and PR #3868 (retries it) ; aws/aws-cdk#4179.
    # =================================================================================================
    # =================================================================================================
    # deletion-protection. DeleteLoadBalancer while deletion_protection.enabled is true:
    # OperationNotPermitted. Source: ELB API DeleteLoadBalancer ("If deletion protection is enabled,
    # the load balancer cannot be deleted"), https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_DeleteLoadBalancer.html
    # moto stores the attribute and deletes anyway.
    # =================================================================================================
    def deletion_protection(self, call):
        arn = call.get("LoadBalancerArn")
        if not arn:
            return
        try:
            attributes = self.up.of("elbv2", call).describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]
        except FAILED:  # gone or unreadable: moto answers the delete itself
            return
        if any(a.get("Key") == "deletion_protection.enabled" and a.get("Value") == "true" for a in attributes):
            raise Refused("deletion-protection", "OperationNotPermitted",
                          f"Load balancer '{arn}' cannot be deleted because deletion protection is enabled")

    def certificate_in_use(self, call):
        arn = call.data.get("CertificateArn", "")
        message = f"Certificate {arn} in use"
        # Candidates: listeners the proxy saw take it, and ACM's own InUseBy; each checked in moto.
        with self.lock:
            candidates = set(self.cert_listeners.get(arn, ()))
        candidates |= {user for user in self.up.certificate(call, arn).get("InUseBy", []) if ":listener/" in user}
        for listener in sorted(candidates):
            for found in self.up.listeners(call, arns=[listener]):
                if any(c.get("CertificateArn") == arn for c in found.get("Certificates", [])):
                    raise Refused("certificate-in-use", "ResourceInUseException", message)
        with self.lock:
            released = self.cert_released.get(arn)
        if released is not None and self.now() < released + self.t.cert_in_use:
            raise Refused("certificate-in-use", "ResourceInUseException", message)

    def record_listener_certificates(self, call, data):
        root = parse_xml(data)
        listeners = [e.text for e in find_all(root, "ListenerArn")] if root is not None else []
        listeners = listeners or [call.get("ListenerArn")]
        with self.lock:
            for cert in call.ending("CertificateArn"):
                self.cert_listeners.setdefault(cert, set()).update(l for l in listeners if l)

    def prepare_listener_change(self, call):
        arns = [call.get("ListenerArn")] if call.get("ListenerArn") else []
        if arns:
            call.memo["old_certs"] = {c["CertificateArn"] for l in self.up.listeners(call, arns=arns) for c in l.get("Certificates", [])}

    def record_listener_change(self, call, data):
        old = call.memo.get("old_certs", set())
        if call.action == "DeleteListener":
            gone = old
        elif call.action == "RemoveListenerCertificates":
            gone = set(call.ending("CertificateArn"))
        else:  # ModifyListener: only when it names certificates does it replace them
            new = set(call.ending("CertificateArn"))
            gone = old - new if new else set()
        now = self.now()
        with self.lock:
            for cert in gone:
                self.cert_released[cert] = now
