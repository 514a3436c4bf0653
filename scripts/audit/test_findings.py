"""Tests of the audit's filter (findings.py): what is on the stack, what the rules excuse.

Plain unittest, no AWS: `python3 scripts/audit/test_findings.py` (any Python 3.11+).
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import findings  # noqa: E402

RULES_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "by-design.toml")

STATE = {
    "resources": [
        {"name": "vpc", "type": "aws:ec2:Vpc", "id": "vpc-1", "outputs": {"id": "vpc-1"}},
        {"name": "nodes-sg", "type": "aws:ec2:SecurityGroup", "id": "sg-1",
         "outputs": {"id": "sg-1", "name": "s-nodes-sg-ab12"}},
        {"name": "load-balancer", "type": "aws:elbv2:LoadBalancer",
         "id": "arn:aws:elasticloadbalancing:r:1:loadbalancer/app/s-load-balancer-1/abc",
         "outputs": {"arn": "arn:aws:elasticloadbalancing:r:1:loadbalancer/app/s-load-balancer-1/abc",
                     "name": "s-load-balancer-1", "dns_name": "x.elb.amazonaws.com"}},
        {"name": "certificate", "type": "aws:acm:Certificate", "id": "arn:aws:acm:r:1:certificate/c",
         "outputs": {"arn": "arn:aws:acm:r:1:certificate/c"}},
        {"name": "certificate-validation", "type": "aws:acm:CertificateValidation",
         "id": "arn:aws:acm:r:1:certificate/c", "outputs": {"certificate_arn": "arn:aws:acm:r:1:certificate/c"}},
    ]
}


def record(check, uid="", name="", status="FAIL", labels=()):
    return {"check": check, "severity": "High", "status": status, "uid": uid, "name": name,
            "labels": list(labels), "message": check}


class StateNames(unittest.TestCase):
    def test_ids_arns_and_names_map_to_the_resource(self):
        names = findings.state_names(STATE)
        self.assertEqual(names["sg-1"], "nodes-sg")
        self.assertEqual(names["s-nodes-sg-ab12"], "nodes-sg")
        self.assertEqual(names["s-load-balancer-1"], "load-balancer")
        self.assertNotIn("x.elb.amazonaws.com", names)

    def test_the_first_resource_keeps_a_shared_id(self):
        self.assertEqual(findings.state_names(STATE)["arn:aws:acm:r:1:certificate/c"], "certificate")


class OnStack(unittest.TestCase):
    names = findings.state_names(STATE)

    def test_by_uid_name_or_the_end_of_an_arn(self):
        self.assertEqual(findings.on_stack(record("c", uid="arn:aws:ec2:r:1:security-group/sg-1"), self.names, "s"),
                         "nodes-sg")
        self.assertEqual(findings.on_stack(record("c", uid="arn:x", name="s-load-balancer-1"), self.names, "s"),
                         "load-balancer")
        self.assertEqual(findings.on_stack(record("c", uid="arn:aws:ec2:r:1:vpc/vpc-1"), self.names, "s"), "vpc")

    def test_by_the_stack_tag(self):
        tagged = record("c", uid="arn:aws:ec2:r:1:snapshot/snap-9", name="snap-9",
                        labels=["ams-stack:stack:s", "ams-stack:name:mongodb-data"])
        self.assertEqual(findings.on_stack(tagged, self.names, "s"), "mongodb-data (tagged)")
        self.assertIsNone(findings.on_stack(tagged, self.names, "other"))

    def test_account_level_and_foreign_resources_are_not_the_stacks(self):
        self.assertIsNone(findings.on_stack(record("c", uid="arn:aws:iam::1:root", name="1"), self.names, "s"))
        self.assertIsNone(findings.on_stack(record("c", uid="arn:aws:ec2:r:1:vpc/vpc-2", name="vpc-2"),
                                            self.names, "s"))
        # An account-level ARN ending in a resource type, not an id.
        self.assertIsNone(findings.on_stack(record("c", uid="arn:aws:ec2:r:1:volume", name="1"), self.names, "s"))


class Rules(unittest.TestCase):
    rules = findings.load_rules(open(RULES_FILE).read())
    names = {
        "sg-1": "nodes-sg", "sg-2": "load-balancer-sg", "i-1": "origin-group instance", "i-2": "mongodb",
        "vol-1": "origin-group instance unmapped volume", "vol-2": "mongodb volume /dev/sda1",
        "acl-1": "default network acl", "vpc-1": "vpc", "g-1": "edge-group",
    }

    def classify(self, records, emulator=True):
        return findings.classify(records, self.names, "s", self.rules, emulator)

    def test_the_shipped_rules_excuse_what_docs_security_names(self):
        result = self.classify([
            record("ec2_securitygroup_allow_ingress_from_internet_to_any_port", uid="sg-1"),
            record("ec2_instance_public_ip", uid="i-1"),
            record("autoscaling_group_multiple_az", uid="g-1"),
            record("ec2_networkacl_allow_ingress_tcp_port_22", uid="acl-1"),
            record("vpc_endpoint_for_ec2_enabled", uid="vpc-1"),
            record("vpc_flow_logs_enabled", uid="vpc-1"),
        ])
        self.assertEqual(result["left"], [])
        self.assertEqual(sum(result["by_design"].values()), 6)

    def test_by_design_is_per_resource(self):
        result = self.classify([
            record("ec2_securitygroup_allow_ingress_from_internet_to_any_port", uid="sg-2"),
            record("ec2_instance_public_ip", uid="i-2"),
        ])
        self.assertEqual([r["resource"] for r in result["left"]], ["load-balancer-sg", "mongodb"])

    def test_emulator_artefacts_only_on_the_emulator(self):
        artefacts = [record("ec2_instance_imdsv2_enabled", uid="i-1"), record("ec2_ebs_volume_encryption", uid="vol-1")]
        on_emulator = self.classify(artefacts)
        self.assertEqual((sum(on_emulator["emulator"].values()), on_emulator["left"]), (2, []))
        self.assertEqual(len(self.classify(artefacts, emulator=False)["left"]), 2)
        # Not an artefact on the template's own volume.
        self.assertEqual(len(self.classify([record("ec2_ebs_volume_encryption", uid="vol-2")])["left"]), 1)

    def test_passes_and_other_resources_are_counted_apart(self):
        result = self.classify([record("x", uid="sg-1", status="PASS"), record("x", uid="sg-9")])
        self.assertEqual((result["failed_on_stack"], result["off_stack"], result["left"]), (0, 1, []))

    def test_a_rule_without_a_reason_or_with_an_unknown_key_is_refused(self):
        with self.assertRaises(ValueError):
            findings.load_rules('[by_design.x]\nmatch = [{ check = "c" }]\n')
        with self.assertRaises(ValueError):
            findings.load_rules('[by_design.x]\nreason = "r"\nmatch = [{ check = "c", resourse = "vpc" }]\n')


class Ocsf(unittest.TestCase):
    def test_one_record_per_finding_and_resource(self):
        document = [{
            "metadata": {"event_code": "vpc_flow_logs_enabled"}, "severity": "Medium", "status_code": "FAIL",
            "status_detail": "VPC vpc-1 Flow logs are disabled.",
            "resources": [{"uid": "arn:aws:ec2:r:1:vpc/vpc-1", "name": "vpc-1", "labels": ["ams-stack:stack:s"]}],
        }]
        [parsed] = findings.from_ocsf(document)
        self.assertEqual((parsed["check"], parsed["status"], parsed["name"]), ("vpc_flow_logs_enabled", "FAIL", "vpc-1"))


if __name__ == "__main__":
    unittest.main()
