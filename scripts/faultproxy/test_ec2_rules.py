"""Tests of the strict cloud's rules no-capacity, volume-modification and access-log-race
(creating.py), and of EC2's default EBS key that the proxy answers from memory in every mode
(ebsdefault.py, because moto lacks it), against a real moto server.

Run: .venv/bin/python scripts/faultproxy/test_ec2_rules.py   (standard library unittest; needs
`scripts/emulator.sh install` for .venv). Starts its own moto and proxies on free loopback ports.
For every rule: the lenient order of calls fails with AWS's code, and the right behaviour (waiting,
retrying, choosing another type or zone) gets through. Durations are scaled down to about a second.
"""

import json
import os
import subprocess
import sys
import time
import unittest
import urllib.request

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from harness import HERE, PROBLEMS, VENV, refusal, retry, spawn, start_proxy, stop_all, wait_for

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's
ELB_ACCOUNT = "127311923021"  # us-east-1's Elastic Load Balancing account (access logs)
T = {"modification": 0.8, "policy": 0.7, "pending": 0.3}


def start_moto():
    return spawn([os.path.join(VENV, "moto_server"), "-H", "127.0.0.1", "-p", "0"])


def client(service, endpoint, region=REGION, attempts=1, account=None):
    made = boto3.client(service, endpoint_url=endpoint, region_name=region, aws_access_key_id="test", aws_secret_access_key="test",
                        config=Config(retries={"total_max_attempts": attempts, "mode": "standard"}))
    if account:  # moto's separate accounts on one server
        made.meta.events.register("before-sign", lambda request, **_: request.headers.__setitem__("x-moto-account-id", account))
    return made


def get_json(url, method="GET"):
    with urllib.request.urlopen(urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)) as answer:
        return json.load(answer) if method == "GET" else answer.read()


def setUpModule():
    global MOTO, STRICT, DEFAULTS, DAILY, LENIENT, IMAGE
    MOTO = start_moto()
    common = ["--cloud", "strict", "--instance-pending-s", str(T["pending"]), "--lb-provisioning-s", "0.2", "--consistency-s", "0.2"]
    STRICT = start_proxy(MOTO, *common, "--no-capacity", "t3.large,c5.xlarge@us-east-1a", "--volume-modification-s", str(T["modification"]),
                         "--bucket-policy-s", str(T["policy"]))
    DEFAULTS = start_proxy(MOTO, "--cloud", "strict")  # the strict cloud as the Rust tests run it: default flags
    DAILY = start_proxy(MOTO, *common, "--volume-modification-s", "0.1", "--volume-modifications-per-day", "2", "--volume-modification-day-s", "2")
    LENIENT = start_proxy(MOTO)  # what scripts/emulator.sh puts in front of every moto
    IMAGE = sorted(i["ImageId"] for i in client("ec2", MOTO).describe_images(Owners=["amazon"])["Images"])[0]


def tearDownModule():
    stop_all()


class Case(unittest.TestCase):
    proxy = None

    def setUp(self):
        self.proxy = self.proxy or STRICT
        self.ec2, self.elbv2, self.s3, self.kms = (client(s, self.proxy) for s in ("ec2", "elbv2", "s3", "kms"))
        self.before = get_json(self.proxy + "/__proxy/rules")

    def tearDown(self):
        self.assertEqual(PROBLEMS, [], "the proxy reported a failure")

    def bit(self, rule, times=1):
        """The rule refused at least `times` calls in this test."""
        after = get_json(self.proxy + "/__proxy/rules")
        self.assertGreaterEqual(after[rule] - self.before[rule], times, after)

    def subnet(self, zone="a", ec2=None):
        ec2 = ec2 or self.ec2
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        return ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone=f"{REGION}{zone}")["Subnet"]["SubnetId"]


class NoCapacity(Case):
    def launch(self, kind, ec2=None, **kwargs):
        return (ec2 or self.ec2).run_instances(ImageId=IMAGE, MinCount=1, MaxCount=1, InstanceType=kind, **kwargs)["Instances"][0]["InstanceId"]

    def test_run_instances_of_a_type_without_capacity(self):
        subnet = self.subnet("a")
        code, message, status = refusal(self.launch, kind="t3.large", SubnetId=subnet)
        self.assertEqual((code, status), ("InsufficientInstanceCapacity", 500))
        self.assertEqual(message, "We currently do not have sufficient t3.large capacity in the Availability Zone you requested (us-east-1a). "
                                  "Our system will be working on provisioning additional capacity.")  # no zone has it: none to suggest
        self.assertEqual(refusal(self.launch, kind="t3.large")[0], "InsufficientInstanceCapacity")  # nor without a zone
        # c5.xlarge lacks only in us-east-1a: the message names the zones that have it, and they launch it.
        code, message, _ = refusal(self.launch, kind="c5.xlarge", SubnetId=subnet)
        self.assertEqual(code, "InsufficientInstanceCapacity")
        self.assertTrue(message.endswith("You can currently get c5.xlarge capacity by not specifying an Availability Zone in your request or choosing "
                                         "us-east-1b, us-east-1c, us-east-1d, us-east-1e, us-east-1f."), message)
        self.assertEqual(refusal(self.launch, kind="c5.xlarge", Placement={"AvailabilityZone": "us-east-1a"})[0], "InsufficientInstanceCapacity")
        template = self.ec2.create_launch_template(LaunchTemplateName=f"lt{time.time_ns()}", LaunchTemplateData={"ImageId": IMAGE, "InstanceType": "t3.large"})
        by_template = dict(MinCount=1, MaxCount=1, LaunchTemplate={"LaunchTemplateId": template["LaunchTemplate"]["LaunchTemplateId"]})
        self.assertEqual(refusal(self.ec2.run_instances, **by_template)[0], "InsufficientInstanceCapacity")  # the template's type
        self.bit("no-capacity", 5)
        # The right behaviour: another type, or another zone (or none) for a type one zone lacks.
        self.assertIsNone(refusal(self.launch, kind="t3.micro", SubnetId=subnet))
        self.assertIsNone(refusal(self.launch, kind="c5.xlarge", SubnetId=self.subnet("b")))
        self.assertIsNone(refusal(self.launch, kind="c5.xlarge"))
        self.assertEqual(refusal(self.launch, kind="t3.large", SubnetId=subnet, DryRun=True)[::2], ("DryRunOperation", 412))  # checks permissions only
        self.assertIsNone(refusal(self.launch, ec2=client("ec2", MOTO), kind="t3.large", SubnetId=subnet))  # moto alone launches anything

    def test_a_stopped_instance_changed_to_such_a_type_does_not_start(self):
        instance = self.launch("t3.micro", SubnetId=self.subnet("a"))
        state = lambda: self.ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]["State"]["Name"]
        wait_for(lambda: state() == "running")
        self.ec2.stop_instances(InstanceIds=[instance])
        wait_for(lambda: state() == "stopped")
        self.ec2.modify_instance_attribute(InstanceId=instance, InstanceType={"Value": "t3.large"})
        code, message, status = refusal(self.ec2.start_instances, InstanceIds=[instance])
        self.assertEqual((code, status), ("InsufficientInstanceCapacity", 500))
        self.assertIn("sufficient t3.large capacity in the Availability Zone you requested (us-east-1a)", message)
        self.assertEqual(state(), "stopped")
        self.bit("no-capacity")
        # The right behaviour: back to a type that has capacity, then start.
        self.ec2.modify_instance_attribute(InstanceId=instance, InstanceType={"Value": "t3.micro"})
        self.ec2.start_instances(InstanceIds=[instance])
        wait_for(lambda: state() == "running")
        self.assertIsNone(refusal(self.ec2.start_instances, InstanceIds=[instance]))  # a running instance needs no capacity

    def test_the_sdk_retries_it_a_few_times_then_gives_up(self):
        refused = lambda: get_json(STRICT + "/__proxy/counts").get("refused:no-capacity", 0)
        before = refused()
        code, _, status = refusal(self.launch, ec2=client("ec2", STRICT, attempts=3), kind="t3.large")
        self.assertEqual((code, status), ("InsufficientInstanceCapacity", 500))
        self.assertEqual(refused() - before, 3)  # a server error: retried, then given up

    def test_no_type_is_short_by_default(self):
        self.assertIsNone(refusal(self.launch, ec2=client("ec2", DEFAULTS), kind="t3.large", SubnetId=self.subnet("a")))


class VolumeModification(Case):
    def volume(self, ec2=None):
        return (ec2 or self.ec2).create_volume(AvailabilityZone=f"{REGION}a", Size=10, VolumeType="gp3")["VolumeId"]

    def newest(self, volume, ec2=None):
        found = (ec2 or self.ec2).describe_volumes_modifications(VolumeIds=[volume])["VolumesModifications"]
        self.assertEqual(len(found), 1, found)  # the most recent only, as AWS lists them
        return found[0]

    def test_a_volume_is_modified_again_once_its_modification_completed(self):
        volume = self.volume()
        started = self.ec2.modify_volume(VolumeId=volume, Size=20)["VolumeModification"]
        self.assertEqual((started["ModificationState"], started["Progress"]), ("modifying", 0))
        self.assertNotIn("EndTime", started)
        code, message, status = refusal(self.ec2.modify_volume, VolumeId=volume, Size=30)
        self.assertEqual((code, message, status), ("IncorrectModificationState", f"Volume {volume} cannot be modified in modification state MODIFYING", 400))
        wait_for(lambda: self.newest(volume)["ModificationState"] == "optimizing")
        self.assertEqual(refusal(self.ec2.modify_volume, VolumeId=volume, Iops=4000)[1], f"Volume {volume} cannot be modified in modification state OPTIMIZING")
        self.bit("volume-modification", 2)
        # The right behaviour: wait for completed, then modify again.
        wait_for(lambda: self.newest(volume)["ModificationState"] == "completed")
        done = self.newest(volume)
        self.assertEqual((done["Progress"], done["TargetSize"]), (100, 20))
        self.assertIn("EndTime", done)
        self.ec2.modify_volume(VolumeId=volume, Size=30)
        self.assertEqual((self.newest(volume)["TargetSize"], self.newest(volume)["ModificationState"]), (30, "modifying"))
        # moto alone completes at once and lists every modification.
        moto = client("ec2", MOTO)
        mine = self.volume(moto)
        moto.modify_volume(VolumeId=mine, Size=20)
        moto.modify_volume(VolumeId=mine, Size=30)
        listed = moto.describe_volumes_modifications(VolumeIds=[mine])["VolumesModifications"]
        self.assertEqual([m["ModificationState"] for m in listed], ["completed", "completed"])

    def test_the_modification_state_filter(self):
        volume = self.volume()
        self.ec2.modify_volume(VolumeId=volume, Size=20)
        by_state = lambda s: [m["VolumeId"] for m in self.ec2.describe_volumes_modifications(
            Filters=[{"Name": "volume-id", "Values": [volume]}, {"Name": "modification-state", "Values": [s]}])["VolumesModifications"]]
        self.assertEqual((by_state("modifying"), by_state("completed")), ([volume], []))
        wait_for(lambda: by_state("completed") == [volume])
        self.assertEqual(by_state("modifying"), [])

    def test_a_limited_number_a_day(self):
        daily = client("ec2", DAILY)  # 2 a "day" of 2 s, each modification 0.1 s
        volume = self.volume(daily)
        for size in (20, 30):
            retry(daily.modify_volume, {"IncorrectModificationState"}, VolumeId=volume, Size=size)
        time.sleep(0.2)
        code, message, _ = refusal(daily.modify_volume, VolumeId=volume, Size=40)
        self.assertEqual(code, "VolumeModificationRateExceeded")
        self.assertIn("up to 2 times within a rolling 24-hour period", message)
        # The right behaviour: wait out the day (here: 2 s after the first).
        retry(daily.modify_volume, {"VolumeModificationRateExceeded"}, VolumeId=volume, Size=40)
        self.assertGreaterEqual(get_json(DAILY + "/__proxy/rules")["volume-modification"], 1)

    def test_defaults_complete_in_about_a_second(self):
        ec2 = client("ec2", DEFAULTS)
        volume = self.volume(ec2)
        ec2.modify_volume(VolumeId=volume, Size=20)
        started = time.time()
        retry(ec2.modify_volume, {"IncorrectModificationState"}, VolumeId=volume, Size=30)
        self.assertLess(time.time() - started, 2.5)


class AccessLogRace(Case):
    def setUp(self):
        super().setUp()
        vpc = self.ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
        igw = self.ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        self.ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
        subnets = [self.ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.1.{n}.0/24", AvailabilityZone=f"{REGION}{z}")["Subnet"]["SubnetId"] for n, z in ((1, "a"), (2, "b"))]
        self.lb = self.elbv2.create_load_balancer(Name=f"lb{time.time_ns() % 10**9}", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
        self.bucket = f"logs-{time.time_ns()}"
        self.s3.create_bucket(Bucket=self.bucket)

    def policy(self, principal=None, prefix="alb", effect="Allow"):
        principal = principal or {"AWS": f"arn:aws:iam::{ELB_ACCOUNT}:root"}
        return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": effect, "Principal": principal, "Action": "s3:PutObject",
                                                                   "Resource": f"arn:aws:s3:::{self.bucket}/{prefix}/AWSLogs/{ACCOUNT}/*"}]})

    def logs(self, enabled=True, bucket=None, elbv2=None):
        attributes = [{"Key": "access_logs.s3.enabled", "Value": str(enabled).lower()}]
        if enabled:
            attributes += [{"Key": "access_logs.s3.bucket", "Value": bucket or self.bucket}, {"Key": "access_logs.s3.prefix", "Value": "alb"}]
        return dict(LoadBalancerArn=self.lb, Attributes=attributes)

    def test_access_logs_just_after_the_bucket_policy(self):
        self.s3.put_bucket_policy(Bucket=self.bucket, Policy=self.policy())
        code, message, status = refusal(self.elbv2.modify_load_balancer_attributes, **self.logs())
        self.assertEqual((code, message, status), ("InvalidConfigurationRequest", f"Access Denied for bucket: {self.bucket}. Please check S3bucket permission", 400))
        self.bit("access-log-race")
        # The right behaviour: retry until the policy is seen.
        _, attempts = retry(self.elbv2.modify_load_balancer_attributes, {"InvalidConfigurationRequest"}, **self.logs())
        self.assertGreater(attempts, 1)
        found = {a["Key"]: a["Value"] for a in self.elbv2.describe_load_balancer_attributes(LoadBalancerArn=self.lb)["Attributes"]}
        self.assertEqual((found["access_logs.s3.enabled"], found["access_logs.s3.bucket"]), ("true", self.bucket))
        # Other attributes, and turning the logs off, need no bucket.
        self.s3.put_bucket_policy(Bucket=self.bucket, Policy=self.policy())
        self.assertIsNone(refusal(self.elbv2.modify_load_balancer_attributes, LoadBalancerArn=self.lb, Attributes=[{"Key": "idle_timeout.timeout_seconds", "Value": "30"}]))
        self.assertIsNone(refusal(self.elbv2.modify_load_balancer_attributes, **self.logs(enabled=False)))

    def test_a_bucket_whose_policy_does_not_let_log_delivery_write(self):
        denied = lambda **kwargs: refusal(self.elbv2.modify_load_balancer_attributes, **self.logs(**kwargs))
        self.assertEqual(denied()[0], "InvalidConfigurationRequest")  # no policy at all
        self.assertEqual(denied(bucket=f"nobucket-{time.time_ns()}")[0], "InvalidConfigurationRequest")
        for wrong in (self.policy(principal={"AWS": f"arn:aws:iam::{ACCOUNT}:root"}), self.policy(prefix="other"), self.policy(effect="Deny")):
            self.s3.put_bucket_policy(Bucket=self.bucket, Policy=wrong)
            time.sleep(T["policy"] + 0.1)
            self.assertEqual(denied()[0], "InvalidConfigurationRequest", wrong)
        self.bit("access-log-race", 5)
        self.assertIsNone(refusal(client("elbv2", MOTO).modify_load_balancer_attributes, **self.logs()))  # moto alone takes any bucket
        # The right behaviour: the region's log delivery may write (its ELB account, or the service principal).
        for right in (self.policy(), self.policy(principal={"Service": "logdelivery.elasticloadbalancing.amazonaws.com"})):
            self.s3.put_bucket_policy(Bucket=self.bucket, Policy=right)
            retry(self.elbv2.modify_load_balancer_attributes, {"InvalidConfigurationRequest"}, **self.logs())

    def test_a_tls_only_deny_and_network_load_balancers(self):
        policy = json.loads(self.policy())
        policy["Statement"].append({"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": [f"arn:aws:s3:::{self.bucket}/*"],
                                    "Condition": {"Bool": {"aws:SecureTransport": "false"}}})
        self.s3.put_bucket_policy(Bucket=self.bucket, Policy=json.dumps(policy))
        retry(self.elbv2.modify_load_balancer_attributes, {"InvalidConfigurationRequest"}, **self.logs())  # log delivery writes over TLS
        # A Network Load Balancer's logs come from another principal: not checked by this rule.
        subnets = [z["SubnetId"] for z in self.elbv2.describe_load_balancers(LoadBalancerArns=[self.lb])["LoadBalancers"][0]["AvailabilityZones"]]
        nlb = self.elbv2.create_load_balancer(Name=f"nlb{time.time_ns() % 10**9}", Subnets=subnets, Type="network")["LoadBalancers"][0]["LoadBalancerArn"]
        self.assertIsNone(refusal(self.elbv2.modify_load_balancer_attributes, **dict(self.logs(bucket=f"nobucket-{time.time_ns()}"), LoadBalancerArn=nlb)))

    def test_the_bucket_from_the_load_balancer_attributes(self):
        """Enabling alone, with the bucket set before: that bucket is checked."""
        self.s3.put_bucket_policy(Bucket=self.bucket, Policy=self.policy())
        time.sleep(T["policy"] + 0.1)
        self.elbv2.modify_load_balancer_attributes(**self.logs())
        self.elbv2.modify_load_balancer_attributes(**self.logs(enabled=False))
        self.s3.delete_bucket_policy(Bucket=self.bucket)
        enable = dict(LoadBalancerArn=self.lb, Attributes=[{"Key": "access_logs.s3.enabled", "Value": "true"}])
        self.assertEqual(refusal(self.elbv2.modify_load_balancer_attributes, **enable)[1], f"Access Denied for bucket: {self.bucket}. Please check S3bucket permission")


class EbsDefaultKey(Case):
    """Answered from memory by every proxy (here the lenient one scripts/emulator.sh starts), as moto lacks it."""

    proxy = None

    def setUp(self):
        self.proxy = LENIENT
        super().setUp()

    def default(self, ec2=None):
        return (ec2 or self.ec2).get_ebs_default_kms_key_id()["KmsKeyId"]

    def test_the_default_is_the_aws_managed_key_and_kms_knows_it(self):
        self.assertEqual(self.default(), "alias/aws/ebs")
        key = self.kms.describe_key(KeyId=self.default())["KeyMetadata"]
        self.assertTrue(key["Arn"].startswith(f"arn:aws:kms:{REGION}:{ACCOUNT}:key/"))
        self.assertIn("Statement", json.loads(self.kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"]))
        self.assertEqual(self.default(client("ec2", STRICT)), "alias/aws/ebs")  # the strict cloud answers it too
        # (moto alone answers it with a bare HTML 500 and a traceback in its log: not asked here.)
        # What moto answers itself goes through to it.
        self.assertIn("EbsEncryptionByDefault", self.ec2.get_ebs_encryption_by_default())
        self.assertTrue(self.ec2.enable_ebs_encryption_by_default()["EbsEncryptionByDefault"])
        self.assertFalse(self.ec2.disable_ebs_encryption_by_default()["EbsEncryptionByDefault"])

    def test_modify_to_a_customer_key_then_reset(self):
        key = self.kms.create_key(Description="ebs")["KeyMetadata"]
        self.kms.create_alias(AliasName=f"alias/ebs{time.time_ns()}", TargetKeyId=key["KeyId"])
        self.assertEqual(self.ec2.modify_ebs_default_kms_key_id(KmsKeyId=key["KeyId"])["KmsKeyId"], key["Arn"])
        self.assertEqual(self.default(), key["Arn"])
        self.assertEqual(self.kms.describe_key(KeyId=self.default())["KeyMetadata"]["KeyManager"], "CUSTOMER")
        self.assertEqual(self.default(client("ec2", self.proxy, "eu-west-1")), "alias/aws/ebs")  # per region
        self.assertEqual(self.default(client("ec2", self.proxy, account="111111111111")), "alias/aws/ebs")  # per account
        # moto encrypts by default with it too.
        volume = client("ec2", MOTO).create_volume(AvailabilityZone=f"{REGION}a", Size=1, Encrypted=True)
        self.assertEqual(volume["KmsKeyId"], key["Arn"])
        reset = self.ec2.reset_ebs_default_kms_key_id()["KmsKeyId"]
        self.assertEqual(reset, self.kms.describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]["Arn"])
        self.assertEqual(self.default(), "alias/aws/ebs")

    def test_a_key_kms_does_not_have_is_refused(self):
        for key in ("alias/no-such-key", "1234abcd-12ab-34cd-56ef-1234567890ab", f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"):
            code, message, status = refusal(self.ec2.modify_ebs_default_kms_key_id, KmsKeyId=key)
            self.assertEqual((code, status), ("InvalidParameterValue", 400), key)
            self.assertEqual(message, f"Value ({key}) for parameter KmsKeyId is invalid. The KMS key does not exist.")
        elsewhere = client("kms", self.proxy, "eu-west-1").create_key()["KeyMetadata"]["Arn"]
        self.assertEqual(refusal(self.ec2.modify_ebs_default_kms_key_id, KmsKeyId=elsewhere)[0], "InvalidParameterValue")
        signing = self.kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
        self.assertIn("asymmetric", refusal(self.ec2.modify_ebs_default_kms_key_id, KmsKeyId=signing)[1])
        good = self.kms.create_key()["KeyMetadata"]["KeyId"]
        self.assertEqual(refusal(self.ec2.modify_ebs_default_kms_key_id, KmsKeyId=good, DryRun=True)[::2], ("DryRunOperation", 412))
        self.assertEqual(self.default(), "alias/aws/ebs")  # nothing changed

    def test_a_proxy_in_front_forwards_to_the_one_that_answers(self):
        outer = start_proxy(LENIENT, "--cloud", "strict")
        key = self.kms.create_key()["KeyMetadata"]
        client("ec2", outer).modify_ebs_default_kms_key_id(KmsKeyId=key["KeyId"])
        self.assertEqual(self.default(), key["Arn"])  # kept by the inner proxy, seen by whoever asks it
        self.assertEqual(self.default(client("ec2", outer)), key["Arn"])
        self.ec2.reset_ebs_default_kms_key_id()

    def test_moto_reset_forgets_the_keys(self):
        moto = start_moto()
        proxy = start_proxy(moto)
        ec2, kms = client("ec2", proxy), client("kms", proxy)
        ec2.modify_ebs_default_kms_key_id(KmsKeyId=kms.create_key()["KeyMetadata"]["KeyId"])
        get_json(proxy + "/moto-api/reset", method="POST")
        self.assertEqual(self.default(ec2), "alias/aws/ebs")


class Flags(unittest.TestCase):
    def test_help_and_rule_names(self):
        shown = subprocess.run([sys.executable, os.path.join(HERE, "faultproxy.py"), "--help"], capture_output=True, text=True, check=True).stdout
        for flag in ("--no-capacity", "--volume-modification-s", "--volume-modifications-per-day", "--volume-modification-day-s", "--bucket-policy-s"):
            self.assertIn(flag, shown)
        sys.path.insert(0, HERE)
        from cloud import RULES, parse_rules
        from creating import parse_no_capacity

        for rule in ("no-capacity", "volume-modification", "access-log-race"):
            self.assertIn(rule, RULES)
        self.assertEqual(parse_rules("none,capacity,access-logs"), {"no-capacity", "access-log-race"})
        self.assertEqual(parse_no_capacity(["t3.large", "c5.xlarge@us-east-1a", "c5.xlarge@us-east-1b", "t3.large@us-east-1a"]),
                         {"t3.large": None, "c5.xlarge": {"us-east-1a", "us-east-1b"}})


if __name__ == "__main__":
    unittest.main(verbosity=2)
