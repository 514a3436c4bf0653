"""What moto holds, asked directly with boto3 (the strict cloud's rules need it before forwarding).

One client per (service, region, account), made under a lock (creating boto3 clients is not
thread-safe; using them is). The calls go straight to moto, never through the proxy, so they are
not counted and get no faults.
"""

import threading

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

FAILED = (ClientError, BotoCoreError)


class Upstream:
    def __init__(self, endpoint):
        self.endpoint = endpoint
        self.session = boto3.session.Session()
        self.clients = {}
        self.lock = threading.Lock()
        self.config = Config(retries={"total_max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=60)

    def client(self, service, region, account=None):
        key = (service, region, account)
        with self.lock:
            found = self.clients.get(key)
            if found is None:
                found = self.session.client(
                    service,
                    endpoint_url=self.endpoint,
                    region_name=region,
                    aws_access_key_id="test",
                    aws_secret_access_key="test",
                    config=self.config,
                )
                if account:
                    # moto keeps one model per account: ask in the caller's.
                    found.meta.events.register("before-sign", lambda request, **_: request.headers.__setitem__("x-moto-account-id", account))
                self.clients[key] = found
        return found

    def of(self, service, call):
        return self.client(service, call.region, call.account)

    # ---- EC2 -------------------------------------------------------------------------------
    def instances(self, call, ids=None, filters=None):
        """Instances as small dicts: id, state, vpc, subnet, sgs, public, lt (template id, version)."""
        ec2 = self.of("ec2", call)
        kwargs = {}
        if ids is not None:
            ids = sorted(set(ids))  # moto answers 500 to a duplicated id
            if not ids:
                return []
            kwargs["InstanceIds"] = ids
        if filters:
            kwargs["Filters"] = filters
        try:
            pages = ec2.get_paginator("describe_instances").paginate(**kwargs)
            raw = [i for page in pages for r in page["Reservations"] for i in r["Instances"]]
        except FAILED:
            return []
        out = []
        for i in raw:
            sgs = {g["GroupId"] for g in i.get("SecurityGroups", [])}
            public = i.get("PublicIpAddress")
            for eni in i.get("NetworkInterfaces", []):
                sgs |= {g["GroupId"] for g in eni.get("Groups", [])}
                public = public or eni.get("Association", {}).get("PublicIp")
            tags = {t["Key"]: t["Value"] for t in i.get("Tags", [])}
            out.append(
                {
                    "id": i["InstanceId"],
                    "state": i["State"]["Name"],
                    "vpc": i.get("VpcId"),
                    "subnet": i.get("SubnetId"),
                    "sgs": sgs,
                    "public": public,
                    "image": i.get("ImageId"),
                    "lt": (tags.get("aws:ec2launchtemplate:id"), tags.get("aws:ec2launchtemplate:version")),
                }
            )
        return out

    def template_version(self, call, lt_id=None, lt_name=None, version=None):
        """(template id, version number, LaunchTemplateData) or None."""
        ec2 = self.of("ec2", call)
        kwargs = {"Versions": [version or "$Default"]}
        if lt_id:
            kwargs["LaunchTemplateId"] = lt_id
        elif lt_name:
            kwargs["LaunchTemplateName"] = lt_name
        else:
            return None
        try:
            found = ec2.describe_launch_template_versions(**kwargs)["LaunchTemplateVersions"]
        except FAILED:
            return None
        if not found:
            return None
        v = found[0]
        return v["LaunchTemplateId"], v["VersionNumber"], v.get("LaunchTemplateData", {})

    def vpc_of_subnets(self, call, subnets):
        try:
            found = self.of("ec2", call).describe_subnets(SubnetIds=sorted(set(subnets)))["Subnets"]
        except FAILED:
            return None
        return sorted({s["VpcId"] for s in found})

    def gateway_attached(self, call, vpc):
        try:
            gateways = self.of("ec2", call).describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vpc]}])["InternetGateways"]
        except FAILED:
            return True  # cannot tell: let moto answer
        return any(a.get("VpcId") == vpc and a.get("State") in ("available", "attached") for g in gateways for a in g.get("Attachments", []))

    def group_id(self, call, name):
        try:
            groups = self.of("ec2", call).describe_security_groups(GroupNames=[name])["SecurityGroups"]
        except FAILED:
            return None
        return groups[0]["GroupId"] if groups else None

    def product_codes(self, call, image):
        """The image's Marketplace product codes (moto lists them only in DescribeImageAttribute)."""
        ec2 = self.of("ec2", call)
        try:
            codes = ec2.describe_image_attribute(ImageId=image, Attribute="productCodes").get("ProductCodes", [])
            if not codes:
                codes = [c for i in ec2.describe_images(ImageIds=[image])["Images"] for c in i.get("ProductCodes", [])]
        except FAILED:
            return []
        return [c.get("ProductCodeId") for c in codes]

    def nat_gateways(self, call, vpc):
        try:
            found = self.of("ec2", call).describe_nat_gateways(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["NatGateways"]
        except FAILED:
            return []
        return [n["NatGatewayId"] for n in found if n.get("State") in ("pending", "available")]

    # ---- ELBv2 -----------------------------------------------------------------------------
    def load_balancers(self, call, arns=None):
        elb = self.of("elbv2", call)
        try:
            if arns:
                return elb.describe_load_balancers(LoadBalancerArns=list(arns))["LoadBalancers"]
            pages = elb.get_paginator("describe_load_balancers").paginate()
            return [lb for page in pages for lb in page["LoadBalancers"]]
        except FAILED:
            return []

    def listeners(self, call, lb_arn=None, arns=None):
        elb = self.of("elbv2", call)
        try:
            if arns:
                return elb.describe_listeners(ListenerArns=list(arns))["Listeners"]
            return elb.describe_listeners(LoadBalancerArn=lb_arn)["Listeners"]
        except FAILED:
            return []

    # ---- Auto Scaling, ACM, Route 53 --------------------------------------------------------
    def groups(self, call, names=None):
        asg = self.of("autoscaling", call)
        kwargs = {"AutoScalingGroupNames": list(names)} if names else {}
        try:
            pages = asg.get_paginator("describe_auto_scaling_groups").paginate(**kwargs)
            return [g for page in pages for g in page["AutoScalingGroups"]]
        except FAILED:
            return []

    def certificate(self, call, arn):
        region = arn.split(":")[3] if arn.count(":") >= 5 else call.region
        try:
            return self.client("acm", region, call.account).describe_certificate(CertificateArn=arn)["Certificate"]
        except FAILED:
            return {}

    def certificate_status(self, call, arn):
        return self.certificate(call, arn).get("Status")

    def zone(self, call, zone_id):
        """(zone name, [(name, type, set identifier)]) or None."""
        r53 = self.of("route53", call)
        try:
            name = r53.get_hosted_zone(Id=zone_id)["HostedZone"]["Name"]
            pages = r53.get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone_id)
            records = [(r["Name"], r["Type"], r.get("SetIdentifier")) for page in pages for r in page["ResourceRecordSets"]]
        except FAILED:
            return None
        return name, records
