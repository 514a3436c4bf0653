"""Tests of DLM answered from memory by the fault proxy (dlm.py), with boto3 against a proxy in front
of a real moto server. The proxy stores policies and takes no snapshots: these tests check the
API's answers and refusals, never that a snapshot is taken.

Run: .venv/bin/python scripts/faultproxy/test_dlm.py   (standard library unittest; needs
`scripts/emulator.sh install` for .venv). Starts its own moto and proxies on free loopback ports.
"""

import json
import os
import time
import unittest
import urllib.error
import urllib.request

import boto3
from botocore.config import Config

from harness import VENV, refusal, spawn, start_proxy, stop_all

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's


def start_moto():
    return spawn([os.path.join(VENV, "moto_server"), "-H", "127.0.0.1", "-p", "0"])


def client(service, endpoint):
    # No client-side validation: the proxy's own refusals are under test.
    config = Config(retries={"total_max_attempts": 1}, parameter_validation=False)
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION, aws_access_key_id="test", aws_secret_access_key="test", config=config)


def get_json(url):
    with urllib.request.urlopen(url) as answer:
        return json.load(answer)


def trust(service):
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]})


def setUpModule():
    global MOTO, PROXY, DLM_ROLE, EC2_ROLE
    MOTO = start_moto()
    PROXY = start_proxy(MOTO)
    iam = client("iam", MOTO)
    DLM_ROLE = iam.create_role(RoleName="snapshots", Path="/ams-stack/", AssumeRolePolicyDocument=trust("dlm.amazonaws.com"))["Role"]["Arn"]
    EC2_ROLE = iam.create_role(RoleName="instances", AssumeRolePolicyDocument=trust("ec2.amazonaws.com"))["Role"]["Arn"]


def tearDownModule():
    stop_all()


def details(retain=7, interval=24, times=("03:00",), target=("ams-stack:backup-of", "demo-mongodb")):
    return {
        "PolicyType": "EBS_SNAPSHOT_MANAGEMENT",
        "ResourceTypes": ["VOLUME"],
        "TargetTags": [{"Key": target[0], "Value": target[1]}],
        "Schedules": [
            {
                "Name": "daily",
                "CopyTags": True,
                "TagsToAdd": [{"Key": "ams-stack:backup", "Value": "daily"}],
                "CreateRule": {"Interval": interval, "IntervalUnit": "HOURS", "Times": list(times)},
                "RetainRule": {"Count": retain},
            }
        ],
    }


def create_args(**overrides):
    args = {
        "ExecutionRoleArn": DLM_ROLE,
        "Description": "MongoDB data volume daily snapshots",
        "State": "ENABLED",
        "PolicyDetails": details(),
        "Tags": {"ams-stack:stack": "demo", "ams-stack:name": "mongodb-backup"},
    }
    args.update(overrides)
    return {k: v for k, v in args.items() if v is not None}


class RoundTrip(unittest.TestCase):
    def setUp(self):
        self.dlm = client("dlm", PROXY)

    def test_create_get_list_update_tags_delete(self):
        before = time.time()
        policy_id = self.dlm.create_lifecycle_policy(**create_args())["PolicyId"]
        self.assertRegex(policy_id, r"^policy-[0-9a-f]{17}$")

        policy = self.dlm.get_lifecycle_policy(PolicyId=policy_id)["Policy"]
        self.assertEqual(policy["PolicyId"], policy_id)
        self.assertEqual(policy["PolicyArn"], f"arn:aws:dlm:{REGION}:{ACCOUNT}:policy/{policy_id}")
        self.assertEqual(policy["State"], "ENABLED")
        self.assertEqual(policy["ExecutionRoleArn"], DLM_ROLE)
        self.assertEqual(policy["Description"], "MongoDB data volume daily snapshots")
        self.assertEqual(policy["PolicyDetails"], details())
        self.assertEqual(policy["Tags"], create_args()["Tags"])
        self.assertGreaterEqual(policy["DateCreated"].timestamp(), before - 1)
        self.assertEqual(policy["DateCreated"], policy["DateModified"])

        listed = {p["PolicyId"]: p for p in self.dlm.get_lifecycle_policies()["Policies"]}
        self.assertEqual(
            listed[policy_id],
            {"PolicyId": policy_id, "Description": policy["Description"], "State": "ENABLED", "Tags": policy["Tags"], "PolicyType": "EBS_SNAPSHOT_MANAGEMENT", "DefaultPolicy": False},
        )

        self.dlm.update_lifecycle_policy(PolicyId=policy_id, Description="kept three", State="DISABLED", PolicyDetails=details(retain=3, times=("05:30",)))
        updated = self.dlm.get_lifecycle_policy(PolicyId=policy_id)["Policy"]
        self.assertEqual(updated["Description"], "kept three")
        self.assertEqual(updated["State"], "DISABLED")
        schedule = updated["PolicyDetails"]["Schedules"][0]
        self.assertEqual((schedule["RetainRule"]["Count"], schedule["CreateRule"]["Times"]), (3, ["05:30"]))
        self.assertGreaterEqual(updated["DateModified"], updated["DateCreated"])
        self.assertEqual(updated["ExecutionRoleArn"], DLM_ROLE, "what an update leaves out stays")

        arn = policy["PolicyArn"]
        self.dlm.tag_resource(ResourceArn=arn, Tags={"team": "media"})
        self.assertEqual(self.dlm.list_tags_for_resource(ResourceArn=arn)["Tags"]["team"], "media")
        self.dlm.untag_resource(ResourceArn=arn, TagKeys=["team", "ams-stack:name"])
        self.assertEqual(self.dlm.list_tags_for_resource(ResourceArn=arn)["Tags"], {"ams-stack:stack": "demo"})

        self.dlm.delete_lifecycle_policy(PolicyId=policy_id)
        gone = (refusal(self.dlm.get_lifecycle_policy, PolicyId=policy_id))
        self.assertEqual(gone[0::2], ("ResourceNotFoundException", 404))
        self.assertIn(policy_id, gone[1])
        self.assertEqual(refusal(self.dlm.delete_lifecycle_policy, PolicyId=policy_id)[0], "ResourceNotFoundException")
        self.assertEqual(refusal(self.dlm.update_lifecycle_policy, PolicyId=policy_id, Description="x")[0], "ResourceNotFoundException")
        self.assertEqual(refusal(self.dlm.list_tags_for_resource, ResourceArn=arn)[0], "ResourceNotFoundException")
        self.assertNotIn(policy_id, [p["PolicyId"] for p in self.dlm.get_lifecycle_policies()["Policies"]])

    def test_list_filters(self):
        volume = self.dlm.create_lifecycle_policy(**create_args(PolicyDetails=details(target=("app", "one"))))["PolicyId"]
        other = self.dlm.create_lifecycle_policy(**create_args(State="DISABLED", PolicyDetails=details(target=("app", "two"))))["PolicyId"]
        ids = lambda **filters: {p["PolicyId"] for p in self.dlm.get_lifecycle_policies(**filters)["Policies"]} & {volume, other}
        self.assertEqual(ids(), {volume, other})
        self.assertEqual(ids(PolicyIds=[other]), {other})
        self.assertEqual(ids(State="ENABLED"), {volume})
        self.assertEqual(ids(TargetTags=["app=two"]), {other})
        self.assertEqual(ids(TagsToAdd=["ams-stack:backup=daily"]), {volume, other})
        self.assertEqual(ids(ResourceTypes=["INSTANCE"]), set())
        self.assertEqual(ids(DefaultPolicyType="VOLUME"), set())
        self.assertEqual(refusal(self.dlm.get_lifecycle_policies, TargetTags=["app"])[0], "InvalidRequestException")

    def test_the_error_is_written_as_dlm_writes_it(self):
        request = urllib.request.Request(PROXY + "/policies/policy-00000000000000000", headers={"Authorization": "AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/dlm/aws4_request, SignedHeaders=host, Signature=x"})
        with self.assertRaises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(request)
        self.assertEqual(raised.exception.code, 404)
        self.assertEqual(raised.exception.headers["x-amzn-ErrorType"], "ResourceNotFoundException")
        body = json.load(raised.exception)
        self.assertEqual(body["Code"], "ResourceNotFoundException")
        self.assertIn("does not exist", body["Message"])


class Validation(unittest.TestCase):
    """Each rule AWS enforces bites, with InvalidRequestException (400), and nothing is kept."""

    def setUp(self):
        self.dlm = client("dlm", PROXY)

    def refused(self, fragment, **overrides):
        before = len(self.dlm.get_lifecycle_policies()["Policies"])
        code, message, status = refusal(self.dlm.create_lifecycle_policy, **create_args(**overrides)) or (None, "", 200)
        self.assertEqual((code, status), ("InvalidRequestException", 400), f"{overrides}: {message}")
        self.assertIn(fragment, message)
        self.assertEqual(len(self.dlm.get_lifecycle_policies()["Policies"]), before)

    def schedule(self, **changes):
        d = details()
        for path, value in changes.items():
            rule, key = path.split("__")
            d["Schedules"][0][rule][key] = value
        return d

    def test_required_fields(self):
        for field in ("ExecutionRoleArn", "Description", "State", "PolicyDetails"):
            with self.subTest(field):
                self.refused(field, **{field: None})
        for field in ("ResourceTypes", "TargetTags", "Schedules"):
            with self.subTest(field):
                d = details()
                del d[field]
                self.refused(field, PolicyDetails=d)

    def test_retain_count_is_1_to_1000(self):
        for count in (0, 1001, -1):
            with self.subTest(count):
                self.refused("between 1 and 1000", PolicyDetails=self.schedule(RetainRule__Count=count))
        for count in (1, 1000):
            policy_id = self.dlm.create_lifecycle_policy(**create_args(PolicyDetails=self.schedule(RetainRule__Count=count)))["PolicyId"]
            self.dlm.delete_lifecycle_policy(PolicyId=policy_id)

    def test_intervals_and_times(self):
        for interval in (5, 7, 48, 0):
            with self.subTest(interval):
                self.refused("Interval", PolicyDetails=self.schedule(CreateRule__Interval=interval))
        self.refused("HOURS", PolicyDetails=self.schedule(CreateRule__IntervalUnit="DAYS"))
        for times in (["3:00"], ["24:00"], ["12:60"], ["noon"], ["01:00", "13:00"]):
            with self.subTest(times):
                self.refused("ime", PolicyDetails=self.schedule(CreateRule__Times=times))

    def test_target_tags_and_resource_types(self):
        d = details()
        d["TargetTags"] = []
        self.refused("TargetTags", PolicyDetails=d)
        d = details()
        d["ResourceTypes"] = ["BUCKET"]
        self.refused("ResourceTypes", PolicyDetails=d)

    def test_state_and_description(self):
        self.refused("State", State="ON")
        self.refused("Description", Description="MongoDB (daily): 7 kept")
        self.refused("Description", Description="x" * 501)

    def test_the_role_must_exist_and_trust_dlm(self):
        self.refused("does not exist", ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/nobody")
        self.refused("does not exist", ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/snapshots")  # wrong path
        self.refused("cannot be assumed by dlm.amazonaws.com", ExecutionRoleArn=EC2_ROLE)
        self.refused("not in this account", ExecutionRoleArn="arn:aws:iam::999999999999:role/ams-stack/snapshots")
        self.refused("not an IAM role ARN", ExecutionRoleArn="snapshots")

    def test_update_validates_too(self):
        policy_id = self.dlm.create_lifecycle_policy(**create_args())["PolicyId"]
        update = self.dlm.update_lifecycle_policy
        self.assertEqual(refusal(update, PolicyId=policy_id, PolicyDetails=self.schedule(RetainRule__Count=0))[0], "InvalidRequestException")
        self.assertEqual(refusal(update, PolicyId=policy_id, ExecutionRoleArn=EC2_ROLE)[0], "InvalidRequestException")
        self.assertEqual(refusal(update, PolicyId=policy_id, State="PAUSED")[0], "InvalidRequestException")
        kept = self.dlm.get_lifecycle_policy(PolicyId=policy_id)["Policy"]
        self.assertEqual((kept["PolicyDetails"], kept["State"], kept["ExecutionRoleArn"]), (details(), "ENABLED", DLM_ROLE))
        self.dlm.delete_lifecycle_policy(PolicyId=policy_id)

    def test_other_policy_kinds_are_refused_plainly(self):
        d = details()
        d["PolicyType"] = "IMAGE_MANAGEMENT"
        self.refused("in-memory DLM", PolicyDetails=d)


class Modes(unittest.TestCase):
    """DLM is answered in every mode, faults apply to it, and a proxy may stand before a proxy."""

    def test_faults_are_injected_on_dlm_calls(self):
        throttled = client("dlm", start_proxy(MOTO, "--throttle", "1"))
        code, _, status = refusal(throttled.get_lifecycle_policies)
        self.assertEqual((code, status), ("Throttling", 400))
        failing = client("dlm", start_proxy(MOTO, "--e500", "1"))
        self.assertEqual(refusal(failing.get_lifecycle_policies)[0::2], ("InternalFailure", 500))

    def test_a_lost_answer_still_made_the_policy(self):
        proxy = start_proxy(MOTO, "--after", "1", "--after-only", "Create")
        dlm = client("dlm", proxy)
        self.assertEqual(refusal(dlm.create_lifecycle_policy, **create_args())[0::2], ("ServiceUnavailable", 503))
        made = dlm.get_lifecycle_policies()["Policies"]
        self.assertEqual([p["Tags"] for p in made], [create_args()["Tags"]])
        self.assertEqual(get_json(proxy + "/__proxy/counts")["dlm:CreateLifecyclePolicy"], 1)

    def test_the_strict_cloud_answers_dlm(self):
        strict = start_proxy(MOTO, "--cloud", "strict")
        dlm = client("dlm", strict)
        policy_id = dlm.create_lifecycle_policy(**create_args())["PolicyId"]
        self.assertEqual(dlm.get_lifecycle_policy(PolicyId=policy_id)["Policy"]["PolicyId"], policy_id)
        self.assertEqual(refusal(dlm.create_lifecycle_policy, **create_args(ExecutionRoleArn=EC2_ROLE))[0], "InvalidRequestException")

    def test_a_proxy_in_front_of_a_proxy_forwards_dlm_to_it(self):
        outer = start_proxy(PROXY, "--delay-ms", "1")
        self.assertIsInstance(get_json(outer + "/moto-api/data.json"), dict)  # moto's own API, forwarded twice
        self.assertIn("Vpcs", client("ec2", outer).describe_vpcs())
        dlm = client("dlm", outer)
        policy_id = dlm.create_lifecycle_policy(**create_args())["PolicyId"]
        self.assertEqual(dlm.get_lifecycle_policy(PolicyId=policy_id)["Policy"]["State"], "ENABLED")
        # The inner proxy keeps it, as moto keeps everything else: asking moto's address sees it.
        self.assertEqual(client("dlm", PROXY).get_lifecycle_policy(PolicyId=policy_id)["Policy"]["PolicyId"], policy_id)
        self.assertEqual(refusal(dlm.create_lifecycle_policy, **create_args(ExecutionRoleArn=EC2_ROLE))[0], "InvalidRequestException")
        self.assertEqual(get_json(outer + "/__proxy/counts")["dlm:CreateLifecyclePolicy"], 2)
        client("dlm", PROXY).delete_lifecycle_policy(PolicyId=policy_id)

    def test_faults_in_front_of_a_proxy_still_hit_dlm(self):
        outer = start_proxy(PROXY, "--after", "1", "--after-only", "Create")
        tags = {"ams-stack:stack": "lost", "ams-stack:name": "answer"}
        self.assertEqual(refusal(client("dlm", outer).create_lifecycle_policy, **create_args(Tags=tags))[0::2], ("ServiceUnavailable", 503))
        made = [p for p in client("dlm", PROXY).get_lifecycle_policies()["Policies"] if p["Tags"] == tags]
        self.assertEqual(len(made), 1, "made once, in the inner proxy")
        self.assertEqual(refusal(client("dlm", start_proxy(PROXY, "--throttle", "1")).get_lifecycle_policies)[0], "Throttling")
        client("dlm", PROXY).delete_lifecycle_policy(PolicyId=made[0]["PolicyId"])


class Reset(unittest.TestCase):
    def test_a_moto_reset_forgets_the_policies(self):
        moto = start_moto()
        proxy = start_proxy(moto)
        role = client("iam", proxy).create_role(RoleName="r", AssumeRolePolicyDocument=trust("dlm.amazonaws.com"))["Role"]["Arn"]
        dlm = client("dlm", proxy)
        dlm.create_lifecycle_policy(**create_args(ExecutionRoleArn=role))
        self.assertEqual(len(dlm.get_lifecycle_policies()["Policies"]), 1)
        urllib.request.urlopen(urllib.request.Request(proxy + "/moto-api/reset", method="POST")).close()
        self.assertEqual(dlm.get_lifecycle_policies()["Policies"], [])
        self.assertEqual(client("iam", proxy).list_roles()["Roles"], [], "moto was reset too")


if __name__ == "__main__":
    unittest.main(verbosity=2)
