"""The audit's filter: which scanner findings are on the stack, and which of those are not by design.

Run by scripts/audit.sh with the audit virtualenv's Python (boto3 and parliament come with it):

  findings.py inventory STATE.json            the stack's resources, each id and ARN mapped to a
                                              name (the state's resource names, plus what AWS
                                              makes on the stack's behalf: group instances, their
                                              volumes, the VPC's default security group and
                                              network ACL), as JSON on stdout
  findings.py iam INVENTORY.json              parliament over the stack's roles' IAM policies
                                              (inline and attached), as findings JSON on stdout
  findings.py report --ocsf FILE --inventory FILE --rules by-design.toml --stack NAME
                     [--iam FILE] [--checks-run N] [--emulator]
                                              the table of findings left and the summary line;
                                              exit 1 if any is left

AWS calls go wherever boto3 is pointed (AWS_ENDPOINT_URL for the emulator, else the real account).
"""
import argparse
import fnmatch
import json
import sys
import tomllib
from collections import Counter

TAG = "ams-stack:stack"


# ---------------------------------------------------------------- the stack's resources


def state_names(state):
    """Every id, ARN and AWS name the state records, mapped to the resource's name in the stack."""
    names = {}
    for resource in state.get("resources", []):
        names.setdefault(resource["id"], resource["name"])
        for key in ("id", "arn", "name"):
            value = resource.get("outputs", {}).get(key)
            if isinstance(value, str) and value:
                names.setdefault(value, resource["name"])
    return names


def ids_of(state, kind):
    return [r["id"] for r in state.get("resources", []) if r["type"] == kind]


def inventory(state, session):
    """The state's names, plus what AWS made for the stack (all named after their owner)."""
    names = state_names(state)
    ec2 = session.client("ec2")
    # A VPC the stack made owns its default security group and network ACL (a VPC given with
    # `vpc_id` is not the stack's, and neither are they).
    vpcs = ids_of(state, "aws:ec2:Vpc")
    if vpcs:
        vpc_filter = [{"Name": "vpc-id", "Values": vpcs}]
        for group in ec2.describe_security_groups(Filters=vpc_filter)["SecurityGroups"]:
            if group["GroupName"] == "default":
                names[group["GroupId"]] = "default security group"
        for acl in ec2.describe_network_acls(Filters=vpc_filter)["NetworkAcls"]:
            names.setdefault(acl["NetworkAclId"], "default network acl" if acl["IsDefault"] else "network acl")
    # Instances: the MongoDB one from the state, the nodes from their groups.
    owners = {i: names[i] for i in ids_of(state, "aws:ec2:Instance")}
    groups = ids_of(state, "aws:autoscaling:Group")
    if groups:
        autoscaling = session.client("autoscaling")
        for group in autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=groups)["AutoScalingGroups"]:
            names[group["AutoScalingGroupARN"]] = names.get(group["AutoScalingGroupName"], group["AutoScalingGroupName"])
            for instance in group.get("Instances", []):
                owners[instance["InstanceId"]] = names[group["AutoScalingGroupName"]] + " instance"
    for instance_id, owner in owners.items():
        names[instance_id] = owner
    if owners:
        mapped = {}
        for reservation in ec2.describe_instances(InstanceIds=list(owners))["Reservations"]:
            for instance in reservation["Instances"]:
                for device in instance.get("BlockDeviceMappings", []):
                    mapped[device["Ebs"]["VolumeId"]] = (instance["InstanceId"], device["DeviceName"])
                for interface in instance.get("NetworkInterfaces", []):
                    names.setdefault(interface["NetworkInterfaceId"], owners[instance["InstanceId"]] + " interface")
        attached = [{"Name": "attachment.instance-id", "Values": list(owners)}]
        for volume in ec2.describe_volumes(Filters=attached)["Volumes"]:
            volume_id = volume["VolumeId"]
            if volume_id in names:
                continue  # MongoDB's data volume: the state names it
            if volume_id in mapped:
                instance_id, device = mapped[volume_id]
                names[volume_id] = f"{owners[instance_id]} volume {device}"
            else:
                # Attached but in no block device mapping: moto's default root volume.
                instance_id = volume["Attachments"][0]["InstanceId"]
                names[volume_id] = f"{owners[instance_id]} unmapped volume"
    return names


# ---------------------------------------------------------------- IAM policies (parliament)


def stack_policies(names, session):
    """(role, which, document) for the permission policies of the stack's roles, inline and attached.

    Not the trust policies: parliament reads them as malformed (no Resource); Prowler checks them.
    """
    iam = session.client("iam")
    role_names = sorted({key.rsplit("/", 1)[-1] for key in names if key.startswith("arn:aws:iam::") and ":role/" in key})
    for role_name in role_names:
        for policy_name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
            document = iam.get_role_policy(RoleName=role_name, PolicyName=policy_name)["PolicyDocument"]
            yield role_name, f"inline policy {policy_name}", document
        for attached in iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]:
            policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
            version = iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=policy["DefaultVersionId"])
            yield role_name, f"attached policy {attached['PolicyName']}", version["PolicyVersion"]["Document"]


def parliament_findings(names, session):
    import parliament

    findings = []
    for role_name, which, document in stack_policies(names, session):
        if isinstance(document, str):
            document = json.loads(document)
        policy = parliament.analyze_policy_string(json.dumps(document), include_community_auditors=True)
        for finding in policy.findings:
            meta = parliament.config.get(finding.issue, {})
            findings.append({
                "check": "parliament:" + finding.issue,
                "severity": meta.get("severity", "?").capitalize(),
                "status": "FAIL",
                "uid": role_name,
                "name": names.get(role_name, role_name),
                "labels": [],
                "message": f"{which}: {meta.get('title', finding.issue)}: {json.dumps(finding.detail, default=str)}",
            })
    return findings


# ---------------------------------------------------------------- findings and rules


def from_ocsf(document):
    """Prowler's json-ocsf findings, one record per finding and resource."""
    records = []
    for finding in document:
        for resource in finding.get("resources") or [{}]:
            records.append({
                "check": finding["metadata"]["event_code"],
                "severity": finding.get("severity", "?"),
                "status": finding.get("status_code", "?"),
                "uid": resource.get("uid", ""),
                "name": resource.get("name", ""),
                "labels": resource.get("labels") or [],
                "message": finding.get("status_detail") or finding.get("message", ""),
            })
    return records


def on_stack(record, names, stack):
    """The resource's name in the stack, or None when the resource is not the stack's."""
    uid = record["uid"]
    for key in (uid, record["name"], uid.rsplit("/", 1)[-1], uid.rsplit(":", 1)[-1]):
        if key and key in names:
            return names[key]
    labels = record["labels"]
    if f"{TAG}:{stack}" in labels:
        # Tagged with the stack but unknown to the state: named by its own name tag.
        own = [label.split(":", 2)[2] for label in labels if label.startswith("ams-stack:name:")]
        return (own[0] if own else record["name"]) + " (tagged)"
    return None


def load_rules(text):
    """by-design.toml: [by_design.KEY] and [emulator.KEY] tables, each a reason and matches."""
    rules = tomllib.loads(text)
    for section in ("by_design", "emulator"):
        for key, rule in rules.get(section, {}).items():
            if not rule.get("reason") or not rule.get("match"):
                raise ValueError(f"{section}.{key}: needs a reason and at least one match")
            for match in rule["match"]:
                if set(match) - {"check", "resource"} or "check" not in match:
                    raise ValueError(f"{section}.{key}: a match has a check and an optional resource")
    return rules


def excused(check, resource, rules, section):
    """The key of the first rule of `section` that covers this check on this resource."""
    for key, rule in rules.get(section, {}).items():
        for match in rule["match"]:
            if fnmatch.fnmatchcase(check, match["check"]) and fnmatch.fnmatchcase(resource, match.get("resource", "*")):
                return key
    return None


def classify(records, names, stack, rules, emulator):
    """Split the failed findings on the stack into by design, emulator artefacts and left."""
    result = {"by_design": Counter(), "emulator": Counter(), "left": [], "off_stack": 0, "failed_on_stack": 0}
    for record in records:
        if record["status"] != "FAIL":
            continue
        resource = on_stack(record, names, stack)
        if resource is None:
            result["off_stack"] += 1
            continue
        result["failed_on_stack"] += 1
        if emulator:
            key = excused(record["check"], resource, rules, "emulator")
            if key:
                result["emulator"][key] += 1
                continue
        key = excused(record["check"], resource, rules, "by_design")
        if key:
            result["by_design"][key] += 1
            continue
        result["left"].append(dict(record, resource=resource))
    return result


def resource_cell(record):
    """The stack's name for the resource, and AWS's (its own name, else the end of its id)."""
    aws_name = record["name"] if record["name"] and record["name"] != record["resource"] else record["uid"].rsplit("/", 1)[-1]
    return f"{record['resource']} ({aws_name})" if aws_name and aws_name != record["resource"] else record["resource"]


def table(rows):
    headers = ("check", "severity", "resource", "message")
    cells = [(r["check"], r["severity"], resource_cell(r), r["message"])
             for r in sorted(rows, key=lambda r: (r["check"], r["resource"]))]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(headers[:3])]
    lines = []
    for row in [headers] + cells:
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths)) + "  " + row[3])
    return "\n".join(lines)


def report(args):
    rules = load_rules(open(args.rules).read())
    names = json.load(open(args.inventory))
    records = from_ocsf(json.load(open(args.ocsf)))
    scanned = Counter(r["status"] for r in records)
    iam = json.load(open(args.iam)) if args.iam else []
    result = classify(records + iam, names, args.stack, rules, args.emulator)
    if result["left"]:
        print(table(result["left"]))
    else:
        print("no finding on the stack outside the by-design list")

    def by(section):
        counts = result[section]
        return ", ".join(f"{counts[k]} {k}" for k in rules.get(section, {}) if counts[k]) or "none"

    checks = f"checks run {args.checks_run}, " if args.checks_run else ""
    print(
        f"prowler: {checks}{len({r['check'] for r in records})} with findings; findings {len(records)}: "
        f"passed {scanned['PASS']}, failed {scanned['FAIL']} ({result['off_stack']} not on the stack)"
        + (f"; parliament: {len(iam)} findings" if args.iam else "")
    )
    print(
        f"failed on the stack {result['failed_on_stack']}: by design {sum(result['by_design'].values())} "
        f"({by('by_design')}); emulator artefacts {sum(result['emulator'].values())} ({by('emulator')}); "
        f"left {len(result['left'])}"
    )
    return 1 if result["left"] else 0


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    command = commands.add_parser("inventory")
    command.add_argument("state")
    command = commands.add_parser("iam")
    command.add_argument("inventory")
    command = commands.add_parser("report")
    command.add_argument("--ocsf", required=True)
    command.add_argument("--inventory", required=True)
    command.add_argument("--rules", required=True)
    command.add_argument("--stack", required=True)
    command.add_argument("--iam")
    command.add_argument("--checks-run", type=int)
    command.add_argument("--emulator", action="store_true", help="also drop the emulator's artefacts")
    args = parser.parse_args(argv)
    if args.command == "report":
        return report(args)
    import boto3

    session = boto3.session.Session()
    if args.command == "inventory":
        json.dump(inventory(json.load(open(args.state)), session), sys.stdout, indent=1, sort_keys=True)
    else:
        json.dump(parliament_findings(json.load(open(args.inventory)), session), sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
