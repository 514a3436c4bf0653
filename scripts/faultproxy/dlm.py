"""Data Lifecycle Manager (DLM), answered from memory by the fault proxy: moto has no DLM.

IT STORES POLICIES ONLY. IT TAKES NO SNAPSHOTS, deletes none, and never assumes the execution
role: a policy here is a record that answers the API as AWS would, nothing more. Whatever a test
learns from it is that the calls were right, not that backups happen.

The calls (REST-JSON, SigV4 service name `dlm`), answered in AWS's JSON shapes:
  POST   /policies               CreateLifecyclePolicy  -> {"PolicyId"}
  GET    /policies               GetLifecyclePolicies   (policyIds, state, resourceTypes,
                                                         targetTags, tagsToAdd, defaultPolicyType)
  GET    /policies/ID            GetLifecyclePolicy     -> {"Policy": {...}}
  PATCH  /policies/ID            UpdateLifecyclePolicy
  DELETE /policies/ID            DeleteLifecyclePolicy
  POST   /tags/ARN               TagResource;  GET: ListTagsForResource;  DELETE ?tagKeys=: UntagResource
Validated as AWS does: required fields, State, the description's characters, the role ARN, target
tags (1-50), schedules (1-4), intervals (1, 2, 3, 4, 6, 8, 12 or 24 HOURS), times (one HH:MM),
retention (a count of 1-1000, or an age), tags. The execution role must exist in the upstream IAM
(asked with boto3, straight to the upstream) and trust dlm.amazonaws.com. Only snapshot policies
(EBS_SNAPSHOT_MANAGEMENT) are kept; AMI and event policies and default policies are refused, saying
that this emulation does not answer them. Errors are DLM's: {"Message", "Code"} with the
x-amzn-ErrorType header (InvalidRequestException 400, ResourceNotFoundException 404).
Policies live per (account, region) in one dict under a lock; POST /moto-api/reset clears them.

A proxy in front of a proxy (a fault proxy in front of the one every emulator has) forwards DLM
calls: the innermost proxy, in front of moto, keeps the policies as moto keeps everything else, so
that whoever asks moto's address sees them; the outer ones inject their faults on the way. A proxy
says it answers DLM at GET /__proxy/dlm, which is how an outer one tells (asked once).
"""

import datetime
import http.client
import json
import re
import secrets
import sys
import threading
import urllib.parse

DEFAULT_ACCOUNT = "123456789012"  # moto's
DLM_PRINCIPAL = "dlm.amazonaws.com"
INTERVALS = (1, 2, 3, 4, 6, 8, 12, 24)
RESOURCE_TYPES = ("VOLUME", "INSTANCE")
STATES = ("ENABLED", "DISABLED")
NAME = re.compile(r"^[0-9A-Za-z _-]+$")  # descriptions and schedule names
ROLE_ARN = re.compile(r"^arn:aws(-[a-z]{1,3}){0,2}:iam::(\d{12}):role/(?:[^/]+/)*([^/]+)$")
TIME = re.compile(r"^(0[0-9]|1[0-9]|2[0-3]):[0-5][0-9]$")
RETAIN_UNITS = ("DAYS", "WEEKS", "MONTHS", "YEARS")
NOT_HERE = "(this proxy's in-memory DLM keeps snapshot policies only)"


class Invalid(Exception):
    """An InvalidRequestException (400)."""

    def __init__(self, message, **fields):
        super().__init__(message)
        self.message, self.fields = message, fields


class NotFound(Exception):
    """A ResourceNotFoundException (404)."""

    def __init__(self, resource_type, ids):
        super().__init__(f"{resource_type} {', '.join(ids)} not found")
        self.message = f"The {resource_type.lower()} {', '.join(ids)} does not exist."
        self.fields = {"ResourceType": resource_type, "ResourceIds": list(ids)}


def reply(status, payload):
    return status, {"Content-Type": "application/json", "x-amzn-RequestId": secrets.token_hex(16)}, json.dumps(payload)


def error(code, message, status, **fields):
    """An error as DLM writes it; the SDKs read the code from x-amzn-ErrorType."""
    status, headers, body = reply(status, {"Message": message, "Code": code, **fields})
    headers["x-amzn-ErrorType"] = code
    return status, headers, body


def parts_of(path):
    """The path's segments, each percent-decoded (an ARN in /tags/ARN has its / and : encoded)."""
    return [urllib.parse.unquote(p) for p in urllib.parse.urlparse(path).path.split("/") if p]


def operation(method, path):
    """The DLM operation of a request, or None."""
    parts = parts_of(path)
    if parts[:1] == ["policies"] and len(parts) == 1:
        return {"POST": "CreateLifecyclePolicy", "GET": "GetLifecyclePolicies"}.get(method)
    if parts[:1] == ["policies"] and len(parts) == 2:
        return {"GET": "GetLifecyclePolicy", "PATCH": "UpdateLifecyclePolicy", "DELETE": "DeleteLifecyclePolicy"}.get(method)
    if parts[:1] == ["tags"] and len(parts) == 2:
        return {"POST": "TagResource", "GET": "ListTagsForResource", "DELETE": "UntagResource"}.get(method)
    return None


def now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


# ---- validation, as AWS answers it ----------------------------------------------------------------
def required(data, names):
    missing = [n for n in names if data.get(n) in (None, "", [], {})]
    if missing:
        raise Invalid(f"Missing required parameters: {', '.join(missing)}", RequiredParameters=missing)


def check_description(text):
    if not isinstance(text, str) or not 0 < len(text) <= 500 or not NAME.match(text):
        raise Invalid(f"Description {text!r} must be 1 to 500 characters of [0-9A-Za-z _-].")


def check_state(state):
    if state not in STATES:
        raise Invalid(f"State {state!r} must be one of {', '.join(STATES)}.")


def check_tag_list(tags, what, low, high):
    if not isinstance(tags, list) or not low <= len(tags) <= high:
        raise Invalid(f"{what} must list {low} to {high} tags.")
    for tag in tags:
        if not isinstance(tag, dict) or not isinstance(tag.get("Key"), str) or not isinstance(tag.get("Value"), str):
            raise Invalid(f"Each of {what} has a Key and a Value.")
        if not 1 <= len(tag["Key"]) <= 128 or len(tag["Value"]) > 256:
            raise Invalid(f"{what}: key {tag['Key']!r} (1-128 characters) or its value (at most 256) is too long.")
        if what != "TargetTags" and tag["Key"].startswith("aws:"):
            raise Invalid(f"{what}: tag keys starting with aws: are reserved.")


def check_tag_map(tags):
    if not isinstance(tags, dict) or not 1 <= len(tags) <= 200:
        raise Invalid("Tags must hold 1 to 200 tags.")
    for key, value in tags.items():
        if not isinstance(value, str) or not 1 <= len(key) <= 128 or len(value) > 256 or key.startswith("aws:"):
            raise Invalid(f"Tag {key!r}: keys are 1-128 characters and not aws:..., values at most 256.")


def check_create_rule(rule, where):
    if not isinstance(rule, dict):
        raise Invalid(f"{where}: a CreateRule is required.")
    cron, interval = rule.get("CronExpression"), rule.get("Interval")
    if cron is not None and (interval is not None or rule.get("Times")):
        raise Invalid(f"{where}: CronExpression excludes Interval and Times.", MutuallyExclusiveParameters=["CronExpression", "Interval"])
    if cron is not None:
        if not isinstance(cron, str) or not cron.startswith("cron(") or not cron.endswith(")"):
            raise Invalid(f"{where}: CronExpression {cron!r} is not cron(...).")
        return
    if interval is None or rule.get("IntervalUnit") is None:
        raise Invalid(f"{where}: CreateRule needs Interval and IntervalUnit, or CronExpression.", RequiredParameters=["Interval", "IntervalUnit"])
    if isinstance(interval, bool) or interval not in INTERVALS:
        raise Invalid(f"{where}: Interval {interval!r} must be one of {', '.join(map(str, INTERVALS))} hours.")
    if rule["IntervalUnit"] != "HOURS":
        raise Invalid(f"{where}: IntervalUnit {rule['IntervalUnit']!r} must be HOURS.")
    times = rule.get("Times", [])
    if not isinstance(times, list) or len(times) > 1:
        raise Invalid(f"{where}: Times takes at most one time.")
    for time in times:
        if not isinstance(time, str) or not TIME.match(time):
            raise Invalid(f"{where}: time {time!r} must be hh:mm, 00:00 to 23:59 (UTC).")


def check_retain_rule(rule, where):
    if not isinstance(rule, dict):
        raise Invalid(f"{where}: a RetainRule is required.")
    count, interval = rule.get("Count"), rule.get("Interval")
    if count is not None and interval is not None:
        raise Invalid(f"{where}: RetainRule takes Count or Interval, not both.", MutuallyExclusiveParameters=["Count", "Interval"])
    if count is not None:
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 1000:
            raise Invalid(f"{where}: retain Count {count!r} must be between 1 and 1000.")
        return
    if not isinstance(interval, int) or isinstance(interval, bool) or interval < 1 or rule.get("IntervalUnit") not in RETAIN_UNITS:
        raise Invalid(f"{where}: RetainRule needs a Count (1-1000), or an Interval of 1 or more {'/'.join(RETAIN_UNITS)}.")


def check_details(details):
    """The policy details AWS would take (a copy, with the default PolicyType filled in)."""
    if not isinstance(details, dict):
        raise Invalid("PolicyDetails must be an object.")
    details = json.loads(json.dumps(details))
    policy_type = details.setdefault("PolicyType", "EBS_SNAPSHOT_MANAGEMENT")
    if policy_type in ("IMAGE_MANAGEMENT", "EVENT_BASED_POLICY"):
        raise Invalid(f"PolicyType {policy_type} is not answered here {NOT_HERE}.")
    if policy_type != "EBS_SNAPSHOT_MANAGEMENT":
        raise Invalid(f"PolicyType {policy_type!r} must be EBS_SNAPSHOT_MANAGEMENT, IMAGE_MANAGEMENT or EVENT_BASED_POLICY.")
    required(details, ["ResourceTypes", "TargetTags", "Schedules"])
    types = details["ResourceTypes"]
    if not isinstance(types, list) or len(types) != 1 or types[0] not in RESOURCE_TYPES:
        raise Invalid(f"ResourceTypes {types!r} must be [VOLUME] or [INSTANCE].")
    check_tag_list(details["TargetTags"], "TargetTags", 1, 50)
    schedules = details["Schedules"]
    if not isinstance(schedules, list) or not 1 <= len(schedules) <= 4:
        raise Invalid("Schedules must list 1 to 4 schedules.")
    names = set()
    for n, schedule in enumerate(schedules):
        if not isinstance(schedule, dict):
            raise Invalid(f"Schedule {n + 1} must be an object.")
        name = schedule.get("Name", f"Schedule {n + 1}")
        if not isinstance(name, str) or not 0 < len(name) <= 120 or not NAME.match(name):
            raise Invalid(f"Schedule name {name!r} must be 1 to 120 characters of [0-9A-Za-z _-].")
        if name in names:
            raise Invalid(f"Schedule names must differ: {name!r} twice.")
        names.add(name)
        if "CopyTags" in schedule and not isinstance(schedule["CopyTags"], bool):
            raise Invalid(f"Schedule {name!r}: CopyTags is true or false.")
        if "TagsToAdd" in schedule:
            check_tag_list(schedule["TagsToAdd"], "TagsToAdd", 0, 45)
        check_create_rule(schedule.get("CreateRule"), f"Schedule {name!r}")
        check_retain_rule(schedule.get("RetainRule"), f"Schedule {name!r}")
    return details


def allows_dlm(document):
    """Whether a trust policy (a dict, or JSON text, perhaps URL-encoded) lets DLM assume the role."""
    if isinstance(document, str):
        try:
            document = json.loads(urllib.parse.unquote(document))
        except ValueError:
            return False
    statements = document.get("Statement", []) if isinstance(document, dict) else []
    for statement in statements if isinstance(statements, list) else [statements]:
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        services = (statement.get("Principal") or {}).get("Service", []) if isinstance(statement.get("Principal"), dict) else []
        services = [services] if isinstance(services, str) else services
        if statement.get("Effect") == "Allow" and DLM_PRINCIPAL in services and any(a in ("sts:AssumeRole", "sts:*", "*") for a in actions):
            return True
    return False


class Dlm:
    """The policies, per (account, region), and the answers to DLM's calls."""

    def __init__(self, upstream):
        self.upstream_url = upstream
        self.upstream = None  # boto3 (upstream.py), made at the first role check
        self.lock = threading.Lock()
        self.policies = {}  # (account, region) -> {policy id: policy}
        self.upstream_answers = None  # whether the upstream is a proxy that answers DLM (asked once)

    def forwarded(self):
        """Whether DLM calls go to the upstream, itself a proxy that answers them (and keeps the
        policies). If the upstream cannot be asked, the call is forwarded and fails as any would."""
        if self.upstream_answers is None:
            parsed = urllib.parse.urlparse(self.upstream_url)
            try:
                connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10)
                try:
                    connection.request("GET", "/__proxy/dlm")
                    response = connection.getresponse()
                    text = response.read()
                finally:
                    connection.close()
            except (OSError, http.client.HTTPException):
                return True
            try:
                answers = response.status == 200 and json.loads(text).get("dlm") == "memory"
            except (ValueError, AttributeError):
                answers = False
            self.upstream_answers = answers
        return self.upstream_answers

    def reset(self):
        with self.lock:
            self.policies.clear()

    def answer(self, method, path, headers, body, region):
        """(status, headers, body) of one DLM call."""
        region = region or "us-east-1"
        moto_account = headers.get("x-moto-account-id")
        account = moto_account or DEFAULT_ACCOUNT
        name = operation(method, path)
        try:
            data = json.loads(body.decode("utf-8") or "{}") if body else {}
            if not isinstance(data, dict):
                raise ValueError("not an object")
        except ValueError:
            return error("InvalidRequestException", "The request body is not a JSON object.", 400)
        query = urllib.parse.parse_qs(urllib.parse.urlparse(path).query)
        parts = parts_of(path)
        try:
            if name is None:
                return error("UnknownOperationException", f"DLM has no {method} {urllib.parse.urlparse(path).path}.", 404)
            if name == "CreateLifecyclePolicy":
                return reply(200, self.create(data, account, region, moto_account))
            if name == "GetLifecyclePolicies":
                return reply(200, self.list(query, account, region))
            if name == "GetLifecyclePolicy":
                return reply(200, {"Policy": self.get(parts[1], account, region)})
            if name == "UpdateLifecyclePolicy":
                return reply(200, self.update(parts[1], data, account, region, moto_account))
            if name == "DeleteLifecyclePolicy":
                return reply(200, self.delete(parts[1], account, region))
            return reply(200, self.tags(name, parts[1], data, query))
        except Invalid as e:
            return error("InvalidRequestException", e.message, 400, **e.fields)
        except NotFound as e:
            return error("ResourceNotFoundException", e.message, 404, **e.fields)
        except RoleUnknown as e:
            return error("InternalServerException", str(e), 500)
        except Exception as e:  # noqa: BLE001 - a bug here answers 500 and says so, as AWS would
            print(f"faultproxy: dlm {name or method} failed: {e!r}", file=sys.stderr, flush=True)
            return error("InternalServerException", f"the proxy's DLM failed: {e!r}", 500)

    # ---- the role ------------------------------------------------------------------------------
    def check_role(self, arn, account, region, moto_account):
        if not isinstance(arn, str) or len(arn) > 2048 or not ROLE_ARN.match(arn):
            raise Invalid(f"ExecutionRoleArn {arn!r} is not an IAM role ARN.")
        match = ROLE_ARN.match(arn)
        if match.group(2) != account:
            raise Invalid(f"The execution role {arn} is not in this account ({account}).")
        role = self.role(match.group(3), region, moto_account)
        if role is None or role.get("Arn") != arn:
            raise Invalid(f"The execution role {arn} does not exist.")
        if not allows_dlm(role.get("AssumeRolePolicyDocument")):
            raise Invalid(f"The execution role {arn} cannot be assumed by {DLM_PRINCIPAL}: its trust policy does not allow it.")

    def role(self, name, region, moto_account):
        """The role as upstream IAM has it, or None."""
        if self.upstream is None:
            from upstream import Upstream  # boto3: only once a role is checked

            with self.lock:
                self.upstream = self.upstream or Upstream(self.upstream_url)
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return self.upstream.client("iam", region, moto_account).get_role(RoleName=name)["Role"]
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") == "NoSuchEntity":
                return None
            raise RoleUnknown(f"IAM could not be asked about role {name}: {e}") from e
        except BotoCoreError as e:
            raise RoleUnknown(f"IAM could not be asked about role {name}: {e}") from e

    # ---- the calls -----------------------------------------------------------------------------
    def create(self, data, account, region, moto_account):
        if data.get("DefaultPolicy") is not None:
            raise Invalid(f"Default policies are not answered here {NOT_HERE}.")
        required(data, ["ExecutionRoleArn", "Description", "State", "PolicyDetails"])
        check_state(data["State"])
        check_description(data["Description"])
        details = check_details(data["PolicyDetails"])
        tags = data.get("Tags") or {}
        if tags:
            check_tag_map(tags)
        self.check_role(data["ExecutionRoleArn"], account, region, moto_account)
        policy_id = "policy-" + secrets.token_hex(9)[:17]
        at = now()
        policy = {
            "PolicyId": policy_id,
            "Description": data["Description"],
            "State": data["State"],
            "StatusMessage": data["State"],
            "ExecutionRoleArn": data["ExecutionRoleArn"],
            "DateCreated": at,
            "DateModified": at,
            "PolicyDetails": details,
            "Tags": dict(tags),
            "PolicyArn": f"arn:aws:dlm:{region}:{account}:policy/{policy_id}",
            "DefaultPolicy": False,
        }
        with self.lock:
            self.policies.setdefault((account, region), {})[policy_id] = policy
        return {"PolicyId": policy_id}

    def list(self, query, account, region):
        def tag_filter(name):
            wanted = query.get(name, [])
            for entry in wanted:
                if "=" not in entry:
                    raise Invalid(f"{name} filter {entry!r} must be key=value.")
            return {tuple(entry.split("=", 1)) for entry in wanted}

        ids, states, types = set(query.get("policyIds", [])), query.get("state", []), set(query.get("resourceTypes", []))
        for state in states:
            if state not in STATES + ("ERROR",):
                raise Invalid(f"state {state!r} must be ENABLED, DISABLED or ERROR.")
        for kind in types:
            if kind not in RESOURCE_TYPES:
                raise Invalid(f"resourceTypes {kind!r} must be VOLUME or INSTANCE.")
        targets, adds = tag_filter("targetTags"), tag_filter("tagsToAdd")
        if query.get("defaultPolicyType"):
            return {"Policies": []}  # no default policies are kept here
        with self.lock:
            policies = [json.loads(json.dumps(p)) for p in self.policies.get((account, region), {}).values()]
        found = []
        for p in policies:
            details = p["PolicyDetails"]
            target_tags = {(t["Key"], t["Value"]) for t in details.get("TargetTags", [])}
            added = {(t["Key"], t["Value"]) for s in details.get("Schedules", []) for t in s.get("TagsToAdd", [])}
            if ids and p["PolicyId"] not in ids or states and p["State"] not in states:
                continue
            if types and not types & set(details.get("ResourceTypes", [])):
                continue
            if targets and not targets & target_tags or adds and not adds & added:
                continue
            found.append({k: p[k] for k in ("PolicyId", "Description", "State", "Tags", "DefaultPolicy")} | {"PolicyType": details["PolicyType"]})
        return {"Policies": found}

    def get(self, policy_id, account, region):
        with self.lock:
            policy = self.policies.get((account, region), {}).get(policy_id)
            if policy is None:
                raise NotFound("LifecyclePolicy", [policy_id])
            return json.loads(json.dumps(policy))

    def update(self, policy_id, data, account, region, moto_account):
        self.get(policy_id, account, region)
        changes = {}
        if "State" in data:
            check_state(data["State"])
            changes["State"] = changes["StatusMessage"] = data["State"]
        if "Description" in data:
            check_description(data["Description"])
            changes["Description"] = data["Description"]
        if "PolicyDetails" in data:
            changes["PolicyDetails"] = check_details(data["PolicyDetails"])
        for key in ("CreateInterval", "RetainInterval", "ExtendDeletion", "CrossRegionCopyTargets", "Exclusions", "CopyTags"):
            if key in data:
                raise Invalid(f"{key} is for default policies only.")
        if "ExecutionRoleArn" in data:
            self.check_role(data["ExecutionRoleArn"], account, region, moto_account)
            changes["ExecutionRoleArn"] = data["ExecutionRoleArn"]
        with self.lock:
            policy = self.policies.get((account, region), {}).get(policy_id)
            if policy is None:  # deleted meanwhile
                raise NotFound("LifecyclePolicy", [policy_id])
            policy.update(changes, DateModified=now())
        return {}

    def delete(self, policy_id, account, region):
        with self.lock:
            if self.policies.get((account, region), {}).pop(policy_id, None) is None:
                raise NotFound("LifecyclePolicy", [policy_id])
        return {}

    def tags(self, name, arn, data, query):
        match = re.match(r"^arn:aws(?:-[a-z]{1,3}){0,2}:dlm:([a-z0-9-]+):(\d{12}):policy/(policy-[0-9a-z]+)$", arn)
        if not match:
            raise Invalid(f"ResourceArn {arn!r} is not a lifecycle policy's ARN.")
        region, account, policy_id = match.groups()
        with self.lock:
            policy = self.policies.get((account, region), {}).get(policy_id)
            if policy is None:
                raise NotFound("LifecyclePolicy", [arn])
            if name == "ListTagsForResource":
                return {"Tags": dict(policy["Tags"])}
            if name == "TagResource":
                required(data, ["Tags"])
                check_tag_map(data["Tags"])
                if len({**policy["Tags"], **data["Tags"]}) > 200:
                    raise Invalid("A policy holds at most 200 tags.")
                policy["Tags"].update(data["Tags"])
                return {}
            keys = query.get("tagKeys", [])
            if not keys:
                raise Invalid("Missing required parameters: tagKeys", RequiredParameters=["TagKeys"])
            for key in keys:
                policy["Tags"].pop(key, None)
            return {}


class RoleUnknown(Exception):
    """IAM could not be asked (upstream down): an InternalServerException, which SDKs retry."""
