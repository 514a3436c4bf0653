"""Tests of the fault proxy's strict cloud (faultproxy.py --cloud strict) against a real moto server.

Run: .venv/bin/python scripts/faultproxy/test_strict.py   (standard library unittest; needs
`scripts/emulator.sh install` for .venv). Starts its own moto and proxies on free loopback ports.
For every rule: the lenient order of calls fails with AWS's code, and the right order (waiting,
retrying, ordering) gets through. Durations are scaled down to about a second.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from harness import HERE, PROBLEMS, REPO, VENV, refusal, retry, spawn, start_proxy, stop_all, wait_for

REGION = "us-east-1"  # as scripts/emulator/seed.py
ZONE = "ams-local.test"  # seeded by seed.py
UBUNTU = "ami-0ubuntu2004focal01"  # from scripts/emulator/amis.json: no product code
AMS = "ami-0antmedia2120ee01"  # given AMS's Marketplace product code below
AMS_OLD = "ami-0antmedia2113ee01"
AMS_CODE = "4wh7rhpic3wfwamyp5905tsbt"
# Short clocks for the shared strict proxy (seconds).
T = {"linger": 1.0, "shutting": 0.8, "cert_in_use": 1.0, "consistency": 0.7, "lb": 0.7, "pending": 0.6, "initial": 0.8, "asg": 0.6, "cert": 0.8}


def start_moto():
    with open(os.path.join(REPO, "scripts", "emulator", "amis.json")) as f:
        images = json.load(f)
    for image in images:
        if image["owner_id"] == "679593333241":
            image["product_codes"] = [AMS_CODE]  # as on AWS Marketplace
    path = os.path.join(tempfile.mkdtemp(prefix="strict-cloud-"), "amis.json")
    with open(path, "w") as f:
        json.dump(images, f)
    # moto issues certificates at once here: PENDING_VALIDATION comes from the proxy's clock (--cert-pending-s).
    env = dict(os.environ, MOTO_ACM_VALIDATION_WAIT="0", MOTO_AMIS_PATH=path)
    endpoint = spawn([os.path.join(VENV, "moto_server"), "-H", "127.0.0.1", "-p", "0"], env)
    subprocess.run([os.path.join(VENV, "python"), os.path.join(REPO, "scripts", "emulator", "seed.py"), endpoint], check=True, capture_output=True)
    return endpoint


def strict_args(*extra):
    return ["--cloud", "strict", "--linger-s", str(T["linger"]), "--shutting-down-s", str(T["shutting"]), "--cert-in-use-s", str(T["cert_in_use"]),
            "--consistency-s", str(T["consistency"]), "--lb-provisioning-s", str(T["lb"]), "--instance-pending-s", str(T["pending"]),
            "--target-initial-s", str(T["initial"]), "--asg-pending-s", str(T["asg"]), "--cert-pending-s", str(T["cert"]), *extra]


def client(service, endpoint, region=REGION, account=None):
    made = boto3.client(service, endpoint_url=endpoint, region_name=region, aws_access_key_id="test", aws_secret_access_key="test",
                        config=Config(retries={"total_max_attempts": 1}))
    if account:  # moto's separate accounts on one server
        made.meta.events.register("before-sign", lambda request, **_: request.headers.__setitem__("x-moto-account-id", account))
    return made


def rules(endpoint):
    with urllib.request.urlopen(endpoint + "/__proxy/rules") as answer:
        return json.load(answer)


def counts(endpoint):
    with urllib.request.urlopen(endpoint + "/__proxy/counts") as answer:
        return json.load(answer)


class Cloud:
    """Clients against one endpoint, and builders that follow AWS's order."""

    def __init__(self, endpoint, region=REGION, account=None):
        self.endpoint, self.region = endpoint, region
        for service in ("ec2", "elbv2", "autoscaling", "iam", "acm", "route53"):
            setattr(self, service, client(service, endpoint, region, account))

    def network(self, gateway=True, public=True):
        vpc = self.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        igw = None
        if gateway:
            igw = self.ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
            self.ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
        subnets = [self.ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{n}.0/24", AvailabilityZone=f"{self.region}{z}")["Subnet"]["SubnetId"] for n, z in ((1, "a"), (2, "b"))]
        if public:
            for subnet in subnets:
                self.ec2.modify_subnet_attribute(SubnetId=subnet, MapPublicIpOnLaunch={"Value": True})
        sg = self.ec2.create_security_group(GroupName=f"g{time.time_ns()}", Description="test", VpcId=vpc)["GroupId"]
        return {"vpc": vpc, "igw": igw, "subnets": subnets, "sg": sg}

    def load_balancer(self, net, **kwargs):
        return self.elbv2.create_load_balancer(Name=f"lb{time.time_ns() % 10**9}", Subnets=net["subnets"], SecurityGroups=[net["sg"]], **kwargs)["LoadBalancers"][0]["LoadBalancerArn"]

    def instance(self, net, image=UBUNTU, **kwargs):
        return self.ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, SubnetId=net["subnets"][0], SecurityGroupIds=[net["sg"]], **kwargs)["Instances"][0]["InstanceId"]

    def target_group(self, net):
        return self.elbv2.create_target_group(Name=f"tg{time.time_ns() % 10**9}", Protocol="HTTP", Port=80, VpcId=net["vpc"])["TargetGroups"][0]["TargetGroupArn"]

    def state(self, instance, **filters):
        reservations = self.ec2.describe_instances(InstanceIds=[instance])["Reservations"]
        return reservations[0]["Instances"][0]["State"]["Name"]

    def issued_certificate(self, name):
        arn = self.acm.request_certificate(DomainName=f"{name}.{ZONE}", ValidationMethod="DNS")["CertificateArn"]
        wait_for(lambda: self.acm.describe_certificate(CertificateArn=arn)["Certificate"]["Status"] == "ISSUED")
        return arn


def setUpModule():
    global MOTO, STRICT, OFF
    MOTO = start_moto()
    STRICT = start_proxy(MOTO, *strict_args("--not-subscribed", AMS_CODE))
    # The same cloud with one rule off, a linger above a minute, and an image listed by id.
    OFF = start_proxy(MOTO, "--cloud", "strict", "--rules", "all,-igw-before-lb", "--linger-s", "90", "--not-subscribed", f"{AMS_OLD}=SKU123")


def tearDownModule():
    stop_all()


class StrictCase(unittest.TestCase):
    def setUp(self):
        self.aws = Cloud(STRICT)
        self.before = rules(STRICT)

    def tearDown(self):
        self.assertEqual(PROBLEMS, [], "the proxy reported a failure")

    def bit(self, rule, times=1):
        """The rule refused at least `times` calls in this test."""
        self.assertGreaterEqual(rules(STRICT)[rule] - self.before[rule], times, rules(STRICT))


class IgwBeforeLb(StrictCase):
    def test_load_balancer_before_gateway_is_refused(self):
        net = self.aws.network(gateway=False)
        code, message, status = refusal(self.aws.load_balancer, net=net)
        self.assertEqual((code, status), ("InvalidSubnet", 400))
        self.assertEqual(message, f"VPC {net['vpc']} has no internet gateway")
        self.bit("igw-before-lb")
        # An internal load balancer needs no gateway.
        self.assertIsNone(refusal(self.aws.load_balancer, net=net, Scheme="internal"))

    def test_any_region_and_moto_account(self):
        for region, account in (("ap-south-1", None), (REGION, "111111111111")):
            aws = Cloud(STRICT, region, account)
            net = aws.network(gateway=False)
            self.assertEqual(refusal(aws.load_balancer, net=net)[0], "InvalidSubnet", (region, account))

    def test_gateway_first_gets_through(self):
        net = self.aws.network(gateway=False)
        igw = self.aws.ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        self.aws.ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=net["vpc"])
        self.assertTrue(self.aws.load_balancer(net).startswith("arn:aws:elasticloadbalancing"))

    def test_rule_switched_off_alone(self):
        off = Cloud(OFF)
        net = off.network(gateway=False)
        self.assertIsNone(refusal(off.load_balancer, net=net))  # igw-before-lb is off there...
        apex = {"Changes": [{"Action": "CREATE", "ResourceRecordSet": {"Name": ZONE, "Type": "CNAME", "TTL": 60, "ResourceRecords": [{"Value": "x.example.org"}]}}]}
        zone = off.route53.list_hosted_zones_by_name(DNSName=ZONE)["HostedZones"][0]["Id"]
        code = refusal(off.route53.change_resource_record_sets, HostedZoneId=zone, ChangeBatch=apex)[0]
        self.assertEqual(code, "InvalidChangeBatch")  # ...and the others still bite
        self.assertEqual(rules(OFF)["igw-before-lb"], 0)


class MappedPublicAddresses(StrictCase):
    MESSAGE = "Network {} has some mapped public address(es). Please unmap those public address(es) before detaching the gateway."

    def detach(self, net):
        return dict(InternetGatewayId=net["igw"], VpcId=net["vpc"])

    def test_instance_with_public_address(self):
        net = self.aws.network()
        instance = self.aws.instance(net)
        code, message, _ = refusal(self.aws.ec2.detach_internet_gateway, **self.detach(net))
        self.assertEqual((code, message), ("DependencyViolation", self.MESSAGE.format(net["vpc"])))
        # Terminating is not enough while it is shutting down; retrying gets through once it is gone.
        self.aws.ec2.terminate_instances(InstanceIds=[instance])
        self.assertEqual(refusal(self.aws.ec2.detach_internet_gateway, **self.detach(net))[0], "DependencyViolation")
        _, attempts = retry(self.aws.ec2.detach_internet_gateway, {"DependencyViolation"}, **self.detach(net))
        self.assertGreater(attempts, 1)
        self.bit("mapped-public-addresses", 2)

    def test_internet_facing_load_balancer_also_after_delete(self):
        net = self.aws.network()
        lb = self.aws.load_balancer(net)
        self.assertEqual(refusal(self.aws.ec2.detach_internet_gateway, **self.detach(net))[0], "DependencyViolation")
        self.aws.elbv2.delete_load_balancer(LoadBalancerArn=lb)
        self.assertEqual(refusal(self.aws.ec2.detach_internet_gateway, **self.detach(net))[0], "DependencyViolation")
        retry(self.aws.ec2.detach_internet_gateway, {"DependencyViolation"}, **self.detach(net))
        self.bit("mapped-public-addresses", 2)

    def test_private_instances_do_not_hold_the_gateway(self):
        net = self.aws.network(public=False)
        self.aws.instance(net)
        self.assertIsNone(refusal(self.aws.ec2.detach_internet_gateway, **self.detach(net)))


class LingeringEnis(StrictCase):
    def test_deleted_load_balancer_keeps_group_and_subnets_busy(self):
        net = self.aws.network()
        lb = self.aws.load_balancer(net)
        self.aws.elbv2.delete_load_balancer(LoadBalancerArn=lb)
        code, message, _ = refusal(self.aws.ec2.delete_security_group, GroupId=net["sg"])
        self.assertEqual((code, message), ("DependencyViolation", f"resource {net['sg']} has a dependent object"))
        code, message, _ = refusal(self.aws.ec2.delete_subnet, SubnetId=net["subnets"][0])
        self.assertEqual((code, message), ("DependencyViolation", f"The subnet '{net['subnets'][0]}' has dependencies and cannot be deleted."))
        self.bit("lingering-enis", 2)
        started = time.time()
        retry(self.aws.ec2.delete_security_group, {"DependencyViolation"}, GroupId=net["sg"])
        for subnet in net["subnets"]:
            retry(self.aws.ec2.delete_subnet, {"DependencyViolation"}, SubnetId=subnet)
        self.assertLess(time.time() - started, T["linger"] + 2)

    def test_terminating_instance_is_shutting_down_and_holds_its_group(self):
        net = self.aws.network()
        instance = self.aws.instance(net)
        wait_for(lambda: self.aws.state(instance) == "running")
        self.aws.ec2.terminate_instances(InstanceIds=[instance])
        self.assertEqual(self.aws.state(instance), "shutting-down")
        found = self.aws.ec2.describe_instances(Filters=[{"Name": "instance-state-name", "Values": ["shutting-down"]}, {"Name": "vpc-id", "Values": [net["vpc"]]}])
        self.assertEqual([i["InstanceId"] for r in found["Reservations"] for i in r["Instances"]], [instance])
        self.assertEqual(refusal(self.aws.ec2.delete_security_group, GroupId=net["sg"])[0], "DependencyViolation")
        self.assertEqual(refusal(self.aws.ec2.delete_subnet, SubnetId=net["subnets"][0])[0], "DependencyViolation")
        self.bit("lingering-enis", 2)
        # The right way: wait until it is terminated, then delete.
        wait_for(lambda: self.aws.state(instance) == "terminated")
        self.aws.ec2.delete_security_group(GroupId=net["sg"])
        self.aws.ec2.delete_subnet(SubnetId=net["subnets"][0])

    def test_linger_can_exceed_a_minute(self):
        off = Cloud(OFF)  # --linger-s 90
        net = off.network()
        lb = off.load_balancer(net)
        off.elbv2.delete_load_balancer(LoadBalancerArn=lb)
        time.sleep(T["linger"] + 0.5)  # longer than the shared proxy's linger
        self.assertEqual(refusal(off.ec2.delete_security_group, GroupId=net["sg"])[0], "DependencyViolation")


class CertificateInUse(StrictCase):
    def test_delete_while_and_just_after_a_listener_uses_it(self):
        net = self.aws.network()
        lb = self.aws.load_balancer(net)
        tg = self.aws.target_group(net)
        cert = self.aws.issued_certificate(f"inuse{time.time_ns()}")
        listener, _ = retry(self.aws.elbv2.create_listener, {"CertificateNotFound", "TargetGroupNotFound"}, LoadBalancerArn=lb, Protocol="HTTPS", Port=443,
                            Certificates=[{"CertificateArn": cert}], DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
        code, message, _ = refusal(self.aws.acm.delete_certificate, CertificateArn=cert)
        self.assertEqual((code, message), ("ResourceInUseException", f"Certificate {cert} in use"))
        self.aws.elbv2.delete_listener(ListenerArn=listener["Listeners"][0]["ListenerArn"])
        self.assertEqual(refusal(self.aws.acm.delete_certificate, CertificateArn=cert)[0], "ResourceInUseException")
        self.bit("certificate-in-use", 2)
        _, attempts = retry(self.aws.acm.delete_certificate, {"ResourceInUseException"}, CertificateArn=cert)
        self.assertGreater(attempts, 1)

    def test_load_balancer_delete_releases_it_later(self):
        net = self.aws.network()
        lb = self.aws.load_balancer(net)
        tg = self.aws.target_group(net)
        cert = self.aws.issued_certificate(f"lbdel{time.time_ns()}")
        retry(self.aws.elbv2.create_listener, {"CertificateNotFound", "TargetGroupNotFound"}, LoadBalancerArn=lb, Protocol="HTTPS", Port=443,
              Certificates=[{"CertificateArn": cert}], DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
        self.aws.elbv2.delete_load_balancer(LoadBalancerArn=lb)
        self.assertEqual(refusal(self.aws.acm.delete_certificate, CertificateArn=cert)[0], "ResourceInUseException")
        retry(self.aws.acm.delete_certificate, {"ResourceInUseException"}, CertificateArn=cert)

    def test_a_protected_load_balancer_is_not_deleted_until_protection_is_off(self):
        net = self.aws.network()
        lb = self.aws.load_balancer(net)
        protect = lambda on: self.aws.elbv2.modify_load_balancer_attributes(
            LoadBalancerArn=lb, Attributes=[{"Key": "deletion_protection.enabled", "Value": str(on).lower()}])
        protect(True)
        code, message, _ = refusal(self.aws.elbv2.delete_load_balancer, LoadBalancerArn=lb)
        self.assertEqual((code, message), ("OperationNotPermitted", f"Load balancer '{lb}' cannot be deleted because deletion protection is enabled"))
        self.assertEqual(len(self.aws.elbv2.describe_load_balancers(LoadBalancerArns=[lb])["LoadBalancers"]), 1)
        protect(False)
        self.assertIsNone(refusal(self.aws.elbv2.delete_load_balancer, LoadBalancerArn=lb))
        self.bit("deletion-protection")

    def test_unused_certificate_deletes(self):
        cert = self.aws.acm.request_certificate(DomainName=f"free{time.time_ns()}.{ZONE}", ValidationMethod="DNS")["CertificateArn"]
        self.assertIsNone(refusal(self.aws.acm.delete_certificate, CertificateArn=cert))


class EventualConsistency(StrictCase):
    def test_new_security_group_not_found_yet(self):
        net = self.aws.network()
        group = self.aws.ec2.create_security_group(GroupName=f"new{time.time_ns()}", Description="x", VpcId=net["vpc"])["GroupId"]
        rule = dict(GroupId=group, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        code, message, _ = refusal(self.aws.ec2.authorize_security_group_ingress, **rule)
        self.assertEqual((code, message), ("InvalidGroup.NotFound", f"The security group '{group}' does not exist"))
        self.assertEqual(refusal(self.aws.ec2.authorize_security_group_egress, **rule)[0], "InvalidGroup.NotFound")
        self.bit("eventual-consistency", 2)
        _, attempts = retry(self.aws.ec2.authorize_security_group_ingress, {"InvalidGroup.NotFound"}, **rule)
        self.assertGreater(attempts, 1)

    def test_new_instance_profile_refused_by_run_instances_and_groups(self):
        net = self.aws.network()
        name = f"profile{time.time_ns()}"
        self.aws.iam.create_instance_profile(InstanceProfileName=name)
        code, message, _ = refusal(self.aws.instance, net=net, IamInstanceProfile={"Name": name})
        self.assertEqual((code, message), ("InvalidParameterValue", f"Value ({name}) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name"))
        # A launch template that names it: the group refuses it too (a new version copied from one that has it).
        template = self.aws.ec2.create_launch_template(LaunchTemplateName=f"lt{time.time_ns()}", LaunchTemplateData={"ImageId": UBUNTU, "IamInstanceProfile": {"Name": name}})["LaunchTemplate"]
        self.aws.ec2.create_launch_template_version(LaunchTemplateId=template["LaunchTemplateId"], SourceVersion="1", LaunchTemplateData={"InstanceType": "t3.small"})
        group = dict(AutoScalingGroupName=f"asg{time.time_ns()}", MinSize=1, MaxSize=1, DesiredCapacity=1, VPCZoneIdentifier=net["subnets"][0],
                     LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"], "Version": "$Latest"})
        code, message, _ = refusal(self.aws.autoscaling.create_auto_scaling_group, **group)
        self.assertEqual(code, "ValidationError")
        self.assertEqual(message, f"You must use a valid fully-formed launch template. Value ({name}) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name")
        self.bit("eventual-consistency", 2)
        retry(self.aws.autoscaling.create_auto_scaling_group, {"ValidationError"}, **group)
        retry(self.aws.instance, {"InvalidParameterValue"}, net=net, IamInstanceProfile={"Name": name})

    def test_new_target_group_not_found_yet(self):
        net = self.aws.network()
        lb = self.aws.load_balancer(net)
        tg = self.aws.target_group(net)
        listener = dict(LoadBalancerArn=lb, Protocol="HTTP", Port=80, DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
        code, message, _ = refusal(self.aws.elbv2.create_listener, **listener)
        self.assertEqual((code, message), ("TargetGroupNotFound", f"Target groups '{tg}' not found"))
        instance = self.aws.instance(net)
        self.assertEqual(refusal(self.aws.elbv2.register_targets, TargetGroupArn=tg, Targets=[{"Id": instance}])[0], "TargetGroupNotFound")
        template = self.aws.ec2.create_launch_template(LaunchTemplateName=f"lt{time.time_ns()}", LaunchTemplateData={"ImageId": UBUNTU})["LaunchTemplate"]
        group = dict(AutoScalingGroupName=f"asg{time.time_ns()}", MinSize=0, MaxSize=1, DesiredCapacity=0, VPCZoneIdentifier=net["subnets"][0],
                     LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"]}, TargetGroupARNs=[tg])
        code, message, _ = refusal(self.aws.autoscaling.create_auto_scaling_group, **group)
        self.assertEqual((code, message), ("ValidationError", "Provided Target Groups may not be valid. Please ensure they exist and try again."))
        plain = {k: v for k, v in group.items() if k != "TargetGroupARNs"}
        self.aws.autoscaling.create_auto_scaling_group(**plain)
        attach = dict(AutoScalingGroupName=group["AutoScalingGroupName"], TargetGroupARNs=[tg])
        self.assertEqual(refusal(self.aws.autoscaling.attach_load_balancer_target_groups, **attach)[0], "ValidationError")
        self.bit("eventual-consistency", 4)
        retry(self.aws.elbv2.create_listener, {"TargetGroupNotFound"}, **listener)
        self.aws.elbv2.register_targets(TargetGroupArn=tg, Targets=[{"Id": instance}])
        self.aws.autoscaling.attach_load_balancer_target_groups(**attach)

    def test_just_issued_certificate_not_found_yet(self):
        net = self.aws.network()
        lb = self.aws.load_balancer(net)
        tg = self.aws.target_group(net)
        time.sleep(T["consistency"])  # the target group is visible by now
        cert = self.aws.issued_certificate(f"fresh{time.time_ns()}")
        listener = dict(LoadBalancerArn=lb, Protocol="HTTPS", Port=443, Certificates=[{"CertificateArn": cert}], DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
        code, message, _ = refusal(self.aws.elbv2.create_listener, **listener)
        self.assertEqual((code, message), ("CertificateNotFound", f"Certificate '{cert}' not found"))
        self.bit("eventual-consistency")
        _, attempts = retry(self.aws.elbv2.create_listener, {"CertificateNotFound"}, **listener)
        self.assertGreater(attempts, 1)


class Route53(StrictCase):
    def setUp(self):
        super().setUp()
        self.zone = self.aws.route53.list_hosted_zones_by_name(DNSName=ZONE)["HostedZones"][0]["Id"]

    def change(self, action, name, kind="CNAME", value="x.example.org", client=None, **rrset):
        record = {"Name": name, "Type": kind, **rrset} if rrset else {"Name": name, "Type": kind, "TTL": 60, "ResourceRecords": [{"Value": value}]}
        return refusal((client or self.aws.route53).change_resource_record_sets, HostedZoneId=self.zone, ChangeBatch={"Changes": [{"Action": action, "ResourceRecordSet": record}]})

    def test_cname_at_apex(self):
        code, message, status = self.change("UPSERT", ZONE)
        self.assertEqual((code, status), ("InvalidChangeBatch", 400))
        self.assertEqual(message, f"[RRSet of type CNAME with DNS name {ZONE}. is not permitted at apex in zone {ZONE}.]")
        self.bit("route53")
        # The right record at the apex: an alias A to the load balancer.
        alias = {"AliasTarget": {"HostedZoneId": "Z2P70J7EXAMPLE", "DNSName": "lb-1.us-east-1.elb.amazonaws.com", "EvaluateTargetHealth": False}}
        self.assertIsNone(self.change("UPSERT", ZONE, kind="A", **alias))

    def test_create_over_existing_record(self):
        name = f"www{time.time_ns()}.{ZONE}."
        self.assertIsNone(self.change("CREATE", name, value="a.example.org"))
        code, message, _ = self.change("CREATE", name, value="b.example.org")
        self.assertEqual((code, message), ("InvalidChangeBatch", f"[Tried to create resource record set [name='{name}', type='CNAME'] but it already exists]"))
        self.bit("route53")
        # moto alone takes that CREATE (it refuses only a repeat of the very same change).
        self.assertIsNone(self.change("CREATE", name, value="c.example.org", client=client("route53", MOTO)))
        self.assertIsNone(self.change("UPSERT", name, value="d.example.org"))

    def test_delete_then_create_in_one_batch(self):
        name = f"swap{time.time_ns()}.{ZONE}."
        self.assertIsNone(self.change("CREATE", name, value="a.example.org"))
        record = lambda value: {"Name": name, "Type": "CNAME", "TTL": 60, "ResourceRecords": [{"Value": value}]}
        batch = {"Changes": [{"Action": "DELETE", "ResourceRecordSet": record("a.example.org")}, {"Action": "CREATE", "ResourceRecordSet": record("b.example.org")}]}
        self.aws.route53.change_resource_record_sets(HostedZoneId=self.zone, ChangeBatch=batch)
        code, message, _ = self.change("DELETE", f"gone{time.time_ns()}.{ZONE}.")
        self.assertEqual(code, "InvalidChangeBatch")
        self.assertIn("but it was not found", message)


class MarketplaceOptIn(StrictCase):
    MESSAGE = "In order to use this AWS Marketplace product you need to accept terms and subscribe. To do so please visit https://aws.amazon.com/marketplace/pp?sku={}"

    def test_run_instances_and_dry_run(self):
        net = self.aws.network()
        for dry in (True, False):
            code, message, status = refusal(self.aws.instance, net=net, image=AMS, DryRun=dry)
            self.assertEqual((code, message, status), ("OptInRequired", self.MESSAGE.format(AMS_CODE), 401))
        self.bit("marketplace-opt-in", 2)
        # An image without the product code: the dry run answers as AWS does (moto does this itself).
        self.assertEqual(refusal(self.aws.instance, net=net, image=UBUNTU, DryRun=True)[::2], ("DryRunOperation", 412))
        self.aws.instance(net, image=UBUNTU)

    def test_image_listed_by_id(self):
        off = Cloud(OFF)  # --not-subscribed ami-0antmedia2113ee01=SKU123
        net = off.network()
        self.assertEqual(refusal(off.instance, net=net, image=AMS_OLD, DryRun=True)[:2], ("OptInRequired", self.MESSAGE.format("SKU123")))
        self.assertIsNone(refusal(off.instance, net=net, image=AMS))

    def test_group_launches_fail_in_scaling_activities(self):
        net = self.aws.network()
        template = self.aws.ec2.create_launch_template(LaunchTemplateName=f"lt{time.time_ns()}", LaunchTemplateData={"ImageId": AMS})["LaunchTemplate"]
        name = f"asg{time.time_ns()}"
        self.aws.autoscaling.create_auto_scaling_group(AutoScalingGroupName=name, MinSize=2, MaxSize=2, DesiredCapacity=2, VPCZoneIdentifier=net["subnets"][0],
                                                       LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"]})
        group = self.aws.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
        self.assertEqual((group["MinSize"], group["DesiredCapacity"], group["Instances"]), (2, 2, []))
        activities = self.aws.autoscaling.describe_scaling_activities(AutoScalingGroupName=name)["Activities"]
        self.assertEqual([a["StatusCode"] for a in activities], ["Failed"])
        self.assertIn(self.MESSAGE.format(AMS_CODE), activities[0]["StatusMessage"])
        self.bit("marketplace-opt-in")
        # Subscribed image (here: one without the product code): the group launches.
        good = self.aws.ec2.create_launch_template_version(LaunchTemplateId=template["LaunchTemplateId"], LaunchTemplateData={"ImageId": UBUNTU})
        self.aws.autoscaling.update_auto_scaling_group(AutoScalingGroupName=name, LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"], "Version": str(good["LaunchTemplateVersion"]["VersionNumber"])})
        self.aws.autoscaling.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=2)
        self.assertEqual(len(self.aws.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]["Instances"]), 2)
        # No failed activity any more: only the launches (scaling.py's scaling-activity shows them).
        self.assertNotIn("Failed", [a["StatusCode"] for a in self.aws.autoscaling.describe_scaling_activities(AutoScalingGroupName=name)["Activities"]])


class Clocks(StrictCase):
    def test_load_balancer_provisioning_then_active(self):
        net = self.aws.network()
        lb = self.aws.load_balancer(net)
        state = lambda: self.aws.elbv2.describe_load_balancers(LoadBalancerArns=[lb])["LoadBalancers"][0]["State"]["Code"]
        self.assertEqual(state(), "provisioning")
        self.assertEqual(state(), "provisioning")  # moto flips to active on the first describe
        self.aws.elbv2.get_waiter("load_balancer_available").wait(LoadBalancerArns=[lb], WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
        self.assertEqual(state(), "active")

    def test_instance_pending_then_running(self):
        net = self.aws.network()
        instance = self.aws.instance(net)
        self.assertEqual(self.aws.state(instance), "pending")
        by_state = lambda s: [i["InstanceId"] for r in self.aws.ec2.describe_instances(Filters=[{"Name": "vpc-id", "Values": [net["vpc"]]}, {"Name": "instance-state-name", "Values": [s]}])["Reservations"] for i in r["Instances"]]
        self.assertEqual((by_state("pending"), by_state("running")), ([instance], []))
        self.aws.ec2.get_waiter("instance_running").wait(InstanceIds=[instance], WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
        self.assertEqual((by_state("pending"), by_state("running")), ([], [instance]))

    def test_targets_initial_then_healthy_and_group_instances_pending(self):
        net = self.aws.network()
        tg = self.aws.target_group(net)
        time.sleep(T["consistency"])
        template = self.aws.ec2.create_launch_template(LaunchTemplateName=f"lt{time.time_ns()}", LaunchTemplateData={"ImageId": UBUNTU})["LaunchTemplate"]
        name = f"asg{time.time_ns()}"
        self.aws.autoscaling.create_auto_scaling_group(AutoScalingGroupName=name, MinSize=1, MaxSize=1, DesiredCapacity=1, VPCZoneIdentifier=net["subnets"][0],
                                                       LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"]}, TargetGroupARNs=[tg])
        group_states = lambda: [i["LifecycleState"] for i in self.aws.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]["Instances"]]
        instance = self.aws.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]["Instances"][0]["InstanceId"]
        instance_states = lambda: [i["LifecycleState"] for i in self.aws.autoscaling.describe_auto_scaling_instances(InstanceIds=[instance])["AutoScalingInstances"]]
        health = lambda: [t["TargetHealth"]["State"] for t in self.aws.elbv2.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]]
        self.assertEqual((group_states(), instance_states(), health()), (["Pending"], ["Pending"], ["initial"]))
        self.assertEqual(self.aws.elbv2.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"][0]["TargetHealth"]["Reason"], "Elb.RegistrationInProgress")
        wait_for(lambda: group_states() == ["InService"] and instance_states() == ["InService"])
        self.aws.elbv2.get_waiter("target_in_service").wait(TargetGroupArn=tg, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
        self.assertEqual(health(), ["healthy"])

    def test_certificate_pending_then_issued(self):
        net = self.aws.network()
        lb = self.aws.load_balancer(net)
        tg = self.aws.target_group(net)
        time.sleep(T["consistency"])
        cert = self.aws.acm.request_certificate(DomainName=f"clock{time.time_ns()}.{ZONE}", ValidationMethod="DNS")["CertificateArn"]
        self.assertEqual(self.aws.acm.describe_certificate(CertificateArn=cert)["Certificate"]["Status"], "PENDING_VALIDATION")
        listener = dict(LoadBalancerArn=lb, Protocol="HTTPS", Port=443, Certificates=[{"CertificateArn": cert}], DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
        self.assertEqual(refusal(self.aws.elbv2.create_listener, **listener)[0], "UnsupportedCertificate")  # moto takes it
        self.bit("clocks")
        self.aws.acm.get_waiter("certificate_validated").wait(CertificateArn=cert, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
        listed = self.aws.acm.list_certificates(CertificateStatuses=["ISSUED"])["CertificateSummaryList"]
        self.assertIn(cert, [c["CertificateArn"] for c in listed])
        retry(self.aws.elbv2.create_listener, {"CertificateNotFound"}, **listener)


class InstancesAndVolumes(StrictCase):
    """instance-type-stopped, volume-no-shrink, attach-volume; and moto's own VolumeInUse on DeleteVolume."""

    def setUp(self):
        super().setUp()
        self.net = self.aws.network(public=False)
        self.instance = self.aws.instance(self.net)  # in the first subnet: us-east-1a

    def volume(self, zone="a", size=10):
        return self.aws.ec2.create_volume(AvailabilityZone=f"{REGION}{zone}", Size=size, VolumeType="gp3")["VolumeId"]

    def volume_state(self, volume):
        return self.aws.ec2.describe_volumes(VolumeIds=[volume])["Volumes"][0]["State"]

    def test_the_type_changes_only_while_stopped(self):
        ec2, instance = self.aws.ec2, self.instance
        change = dict(InstanceId=instance, InstanceType={"Value": "t3.large"})
        code, message, _ = refusal(ec2.modify_instance_attribute, **change)
        self.assertEqual((code, message), ("IncorrectInstanceState", f"The instance '{instance}' is not in the 'stopped' state."))
        self.assertEqual(refusal(ec2.modify_instance_attribute, InstanceId=instance, Attribute="instanceType", Value="t3.large")[0], "IncorrectInstanceState")
        self.bit("instance-type-stopped", 2)
        self.assertIsNone(refusal(ec2.modify_instance_attribute, InstanceId=instance, DisableApiTermination={"Value": False}))
        self.assertIsNone(refusal(ec2.modify_instance_metadata_options, InstanceId=instance, HttpTokens="required", HttpPutResponseHopLimit=2))
        # The right order: stop, change, start.
        ec2.stop_instances(InstanceIds=[instance])
        wait_for(lambda: self.aws.state(instance) == "stopped")
        ec2.modify_instance_attribute(**change)
        ec2.start_instances(InstanceIds=[instance])
        wait_for(lambda: self.aws.state(instance) == "running")
        self.assertEqual(ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]["InstanceType"], "t3.large")
        # moto alone changes a running instance's type.
        self.assertIsNone(refusal(client("ec2", MOTO).modify_instance_attribute, InstanceId=instance, InstanceType={"Value": "t3.xlarge"}))

    def test_a_volume_grows_and_never_shrinks(self):
        volume = self.volume(size=20)
        code, message, _ = refusal(self.aws.ec2.modify_volume, VolumeId=volume, Size=10)
        self.assertEqual((code, message), ("InvalidParameterValue", "New size cannot be smaller than existing size"))
        self.bit("volume-no-shrink")
        self.assertIsNone(refusal(self.aws.ec2.modify_volume, VolumeId=volume, Iops=4000, Throughput=200))
        # Once that modification completed (rule volume-modification, test_ec2_rules.py), it grows.
        retry(self.aws.ec2.modify_volume, {"IncorrectModificationState"}, VolumeId=volume, Size=30)
        self.assertIsNone(refusal(client("ec2", MOTO).modify_volume, VolumeId=volume, Size=5))  # moto shrinks it

    def test_attach_needs_the_same_zone_a_free_device_and_an_available_volume(self):
        ec2, instance = self.aws.ec2, self.instance
        elsewhere = self.volume("b")
        code, message, _ = refusal(ec2.attach_volume, VolumeId=elsewhere, InstanceId=instance, Device="/dev/sdf")
        self.assertEqual((code, message), ("InvalidVolume.ZoneMismatch", f"The volume '{elsewhere}' is not in the same availability zone as instance '{instance}'"))
        first, second = self.volume(), self.volume()
        ec2.attach_volume(VolumeId=first, InstanceId=instance, Device="/dev/sdf")
        code, message, _ = refusal(ec2.attach_volume, VolumeId=second, InstanceId=instance, Device="/dev/xvdf")
        self.assertEqual((code, message), ("InvalidParameterValue", "Invalid value '/dev/xvdf' for unixDevice. Attachment point /dev/xvdf is already in use"))
        self.assertEqual(refusal(ec2.attach_volume, VolumeId=second, InstanceId=instance, Device="/dev/sda1")[0], "InvalidParameterValue")  # the root
        other = self.aws.instance(self.net)
        code, message, _ = refusal(ec2.attach_volume, VolumeId=first, InstanceId=other, Device="/dev/sdf")
        self.assertEqual((code, message), ("VolumeInUse", f"{first} is already attached to an instance"))
        self.bit("attach-volume", 4)
        # The right order: detach, wait until available, attach.
        ec2.detach_volume(VolumeId=first, InstanceId=instance)
        wait_for(lambda: self.volume_state(first) == "available")
        ec2.attach_volume(VolumeId=second, InstanceId=instance, Device="/dev/sdf")
        ec2.attach_volume(VolumeId=first, InstanceId=other, Device="/dev/sdf")
        self.assertEqual((self.volume_state(first), self.volume_state(second)), ("in-use", "in-use"))

    def test_an_attached_volume_is_not_deleted_even_by_moto(self):
        volume = self.volume()
        self.aws.ec2.attach_volume(VolumeId=volume, InstanceId=self.instance, Device="/dev/sdg")
        code, message, _ = refusal(self.aws.ec2.delete_volume, VolumeId=volume)
        self.assertEqual((code, message), ("VolumeInUse", f"Volume {volume} is currently attached to {self.instance}"))
        self.aws.ec2.detach_volume(VolumeId=volume, InstanceId=self.instance)
        wait_for(lambda: self.volume_state(volume) == "available")
        self.assertIsNone(refusal(self.aws.ec2.delete_volume, VolumeId=volume))


class ExistingModes(unittest.TestCase):
    def test_lenient_proxy_still_forwards_and_counts(self):
        proxy = start_proxy(MOTO, "--delay-ms", "1")
        ec2 = client("ec2", proxy)
        self.assertIn("Vpcs", ec2.describe_vpcs())
        net = Cloud(proxy).network(gateway=False)
        Cloud(proxy).load_balancer(net)  # no rule in the lenient proxy
        self.assertGreaterEqual(counts(proxy)["ec2:DescribeVpcs"], 1)
        self.assertEqual(rules(proxy), {})

    def test_strict_flag_alone_checks_delete_order_only(self):
        proxy = start_proxy(MOTO, "--strict")
        aws = Cloud(proxy)
        net = aws.network(gateway=False)
        aws.load_balancer(net)  # igw-before-lb is not part of --strict
        self.assertEqual(refusal(aws.ec2.delete_security_group, GroupId=net["sg"])[0], "DependencyViolation")
        self.assertEqual(counts(proxy)["injected:strict"], 1)
        self.assertEqual(rules(proxy)["delete-order"], 1)

    def test_delete_order_is_part_of_the_strict_cloud(self):
        net = Cloud(STRICT).network()
        Cloud(STRICT).instance(net)
        self.assertEqual(refusal(Cloud(STRICT).ec2.delete_security_group, GroupId=net["sg"])[0], "DependencyViolation")

    def test_help_and_rule_parsing(self):
        shown = subprocess.run([sys.executable, os.path.join(HERE, "faultproxy.py"), "--help"], capture_output=True, text=True, check=True).stdout
        for flag in ("--cloud", "--rules", "--not-subscribed", "--linger-s", "--consistency-s", "--cert-pending-s"):
            self.assertIn(flag, shown)
        sys.path.insert(0, HERE)
        from cloud import RULES, parse_rules

        self.assertEqual(parse_rules("all"), set(RULES))
        self.assertEqual(parse_rules("-apex,-clocks"), set(RULES) - {"route53", "clocks"})
        self.assertEqual(parse_rules("none,igw"), {"igw-before-lb"})
        with self.assertRaises(ValueError):
            parse_rules("-nosuchrule")
        bad = subprocess.run([sys.executable, os.path.join(HERE, "faultproxy.py"), "--upstream", MOTO, "--cloud", "strict", "--rules", "bogus"], capture_output=True, text=True)
        self.assertEqual(bad.returncode, 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
