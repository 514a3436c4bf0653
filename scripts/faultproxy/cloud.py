"""The strict cloud: AWS rules that moto forgives, enforced by the fault proxy on top of moto.

Each rule has a short name (switch it off with --rules -NAME), the answers AWS gives, and a source.
A rule either refuses a call before it reaches moto (in the service's own error format) or, for the
clocks, rewrites what moto answers. To know what exists the proxy watches the calls that pass
through it and asks moto directly. All times are monotonic seconds. Modules:
  cloud.py     rule names, --rules parsing, the state, dispatch tables, what successful calls made
  creating.py  igw-before-lb, eventual-consistency, route53, marketplace-opt-in, and the changes of
               instances and volumes: instance-type-stopped, volume-no-shrink, attach-volume,
               volume-modification; no-capacity; access-log-race
  deleting.py  delete-order, mapped-public-addresses, lingering-enis, certificate-in-use
  scaling.py   Auto Scaling: idle-scale-in, decrement-at-min, deregistration-phase,
               scaling-activity, launch-hook (what Auto Scaling does on its own, done before each call)
  clocks.py    clocks (and the shutting-down / starved-group views), rewriting moto's answers
  upstream.py  boto3 questions to moto;  awswire.py  requests and error formats per protocol

Rules (name: what; source)
  delete-order             deletes AWS refuses while something uses the resource (the old --strict)
  igw-before-lb            internet-facing load balancer in a VPC with no internet gateway
  mapped-public-addresses  DetachInternetGateway while public addresses are mapped in the VPC
  lingering-enis           a deleted load balancer's / a terminating instance's network interfaces
                           keep its security groups and subnets busy for a while
  certificate-in-use       DeleteCertificate while (and shortly after) a listener uses it
  eventual-consistency     new security groups, instance profiles, certificates, target groups
                           are not yet visible to the calls that use them
  route53                  CNAME at the zone apex, CREATE over an existing record, and friends
  marketplace-opt-in       launching a Marketplace image the account has not subscribed to
  clocks                   provisioning/pending/initial/Pending/PENDING_VALIDATION before ready
  instance-type-stopped    ModifyInstanceAttribute of the instance type on an instance not stopped
  volume-no-shrink         ModifyVolume to a smaller size
  attach-volume            AttachVolume across zones, at a device in use, of a volume not available
  volume-modification      ModifyVolume before the volume's last modification completed, or a 5th in a day
  no-capacity              RunInstances / StartInstances of a type named by --no-capacity (none by default)
  access-log-race          ALB access logs on, just after the bucket's policy was put, or without one
  idle-scale-in            a target-tracking policy scales a quiet group in (oldest template version
                           first) every alarm period after the warm-up, unless AlarmNotification is suspended
  decrement-at-min         TerminateInstanceInAutoScalingGroup with decrement at desired == min
  deregistration-phase     a leaving instance drains (Terminating), then waits for its termination
                           hooks (Terminating:Wait), then goes; heartbeat / complete outside a wait
  scaling-activity         group size changes, terminations and deletes while an activity is in progress
  launch-hook              a launch hook holds new instances in Pending:Wait, out of the target groups
(DeleteVolume of an attached volume, VolumeInUse, needs no rule: moto refuses it itself.)
"""

import json
import re
import sys
import threading
import time

from awswire import Refused, child_text, find_all, parse_xml
from clocks import Clocks
from creating import CreatingRules
from deleting import DeletingRules
from scaling import ScalingRules

# name: (summary, sources). The sources are repeated at each rule's code below.
RULES = {
    "delete-order": "deleting a security group, subnet, VPC or auto-scaling group something still uses",
    "igw-before-lb": "internet-facing load balancer before the VPC has an internet gateway: InvalidSubnet",
    "mapped-public-addresses": "DetachInternetGateway while public addresses are mapped: DependencyViolation",
    "lingering-enis": "deleted load balancer / shutting-down instance keeps groups and subnets busy: DependencyViolation",
    "certificate-in-use": "DeleteCertificate while or just after a listener used it: ResourceInUseException",
    "deletion-protection": "DeleteLoadBalancer while its deletion protection is on: OperationNotPermitted",
    "eventual-consistency": "just-created group / profile / certificate / target group not found yet",
    "route53": "CNAME at apex, CREATE over an existing record: InvalidChangeBatch",
    "marketplace-opt-in": "Marketplace image without a subscription: OptInRequired",
    "clocks": "states that take time in AWS: provisioning, pending, initial, Pending, PENDING_VALIDATION",
    "instance-type-stopped": "ModifyInstanceAttribute InstanceType of an instance not stopped: IncorrectInstanceState",
    "volume-no-shrink": "ModifyVolume to a smaller size: InvalidParameterValue",
    "attach-volume": "AttachVolume across zones / at a device in use / of a volume not available: InvalidVolume.ZoneMismatch, InvalidParameterValue, VolumeInUse",
    "volume-modification": "ModifyVolume while the last modification is not completed / a 5th in 24 h: IncorrectModificationState, VolumeModificationRateExceeded",
    "no-capacity": "RunInstances / StartInstances of a type without capacity (--no-capacity): InsufficientInstanceCapacity (500)",
    "access-log-race": "ALB access logs on just after the bucket policy was put, or not allowed by it: InvalidConfigurationRequest",
    # scaling.py; the counts of the rules that act on their own are the times they acted.
    "idle-scale-in": "a target-tracking policy scales a quiet group in once the warm-up is over (acts; AlarmNotification suspended stops it)",
    "decrement-at-min": "TerminateInstanceInAutoScalingGroup with decrement while desired == min: ValidationError",
    "deregistration-phase": "a leaving instance drains, then waits in Terminating:Wait (acts); heartbeat / complete outside a wait: ValidationError",
    "scaling-activity": "size change / terminate / delete of a group while its scaling activity is in progress: ScalingActivityInProgress",
    "launch-hook": "a launch hook holds new instances in Pending:Wait until completed or timed out (acts)",
}
ALIASES = {
    "deletes": "delete-order", "igw": "igw-before-lb", "mapped": "mapped-public-addresses",
    "public-addresses": "mapped-public-addresses", "linger": "lingering-enis", "enis": "lingering-enis",
    "cert-in-use": "certificate-in-use", "protection": "deletion-protection", "consistency": "eventual-consistency", "apex": "route53",
    "dns": "route53", "marketplace": "marketplace-opt-in", "opt-in": "marketplace-opt-in", "clock": "clocks",
    "instance-type": "instance-type-stopped", "shrink": "volume-no-shrink", "attach": "attach-volume",
    "volume-modifications": "volume-modification", "capacity": "no-capacity", "access-logs": "access-log-race",
    "scale-in": "idle-scale-in", "decrement": "decrement-at-min", "deregistration": "deregistration-phase", "draining": "deregistration-phase",
    "activity": "scaling-activity", "launch-hooks": "launch-hook",
}


def parse_rules(spec):
    """'all', 'none', 'a,b', '-a,-b' (all but), 'all,-a'. Unknown names are an error."""
    tokens = [t.strip() for t in (spec or "all").split(",") if t.strip()]
    enabled = set(RULES) if not tokens or tokens[0].startswith("-") else set()
    for token in tokens:
        negate = token.startswith("-")
        name = token.lstrip("-+")
        if name in ("all", "none"):
            enabled = set(RULES) if (name == "all") != negate else set()
            continue
        name = ALIASES.get(name, name)
        if name not in RULES:
            raise ValueError(f"unknown rule {token!r}; rules: {', '.join(RULES)}")
        (enabled.discard if negate else enabled.add)(name)
    return enabled


class Cloud(CreatingRules, DeletingRules, ScalingRules):
    """The rules' state and dispatch; the rules themselves are in creating.py, deleting.py and scaling.py."""

    def __init__(self, upstream, enabled, timing, not_subscribed=(), product_code="", legacy_strict=False):
        from upstream import Upstream  # boto3: only when a cloud is asked for

        self.up = Upstream(upstream)
        self.on = set(enabled)
        self.t = timing
        self.legacy_strict = legacy_strict
        # Watching (and asking moto before forwarding) only when a rule beyond delete-order needs it.
        self.watching = bool(self.on - {"delete-order"})
        self.images, self.codes = {}, set()
        for entry in not_subscribed:
            if entry.startswith("ami-"):
                image, _, code = entry.partition("=")
                self.images[image] = code or product_code or image
            else:
                self.codes.add(entry)
        self.lock = threading.RLock()
        self.refusals = {name: 0 for name in RULES}
        self.ghosts = []  # deleted load balancers whose interfaces linger: dicts with "until"
        self.shutting = {}  # instance id -> what it held, "until"
        self.cert_released = {}  # certificate ARN -> when a listener last let it go
        self.cert_listeners = {}  # certificate ARN -> listeners the proxy saw take it
        self.born = {}  # ("sg"|"profile"|"tg"|"lb"|"instance"|"asg"|"cert", id) -> when
        self.cert_issued = {}  # certificate ARN -> when it was first seen ISSUED
        self.sg_names = {}  # (vpc or "", name) -> id, from CreateSecurityGroup
        self.lt_sources = {}  # (template id, version) -> source version (moto does not copy it)
        self.lt_cache = {}
        self.targets = {}  # (target group ARN, id) -> registered when
        self.starved = {}  # auto-scaling group -> intended sizes and why it cannot launch
        self.image_codes = {}
        self.never_healthy = set()  # images whose instances never pass health checks (--never-healthy)
        self.instance_images = {}  # instance id -> image, for never_healthy
        self.clocks = Clocks(self)

    def image_of(self, call, instance):
        """The image an instance was launched from (asked of moto once)."""
        with self.lock:
            known = self.instance_images.get(instance)
        if known is None:
            found = self.up.instances(call, ids=[instance])
            known = found[0]["image"] if found else ""
            with self.lock:
                self.instance_images[instance] = known
        return known

    # ---- bookkeeping -------------------------------------------------------------------------
    def now(self):
        return time.monotonic()

    def mark(self, kind, key, when=None):
        with self.lock:
            self.born[(kind, key)] = self.now() if when is None else when

    def young(self, kind, key, seconds):
        """True while a resource is younger than seconds."""
        with self.lock:
            since = self.born.get((kind, key))
        return since is not None and self.now() < since + seconds

    def counted(self, refused):
        with self.lock:
            self.refusals[refused.rule] += 1
        return refused

    def rule_counts(self):
        with self.lock:
            return dict(self.refusals)

    # ---- before forwarding ---------------------------------------------------------------------
    def before(self, call):
        """Raise Refused for a call AWS would refuse; else prepare call.memo and maybe rewrite the call."""
        if self.watching:
            self.scaling_tick(call)  # scaling.py: first what Auto Scaling did on its own since the last call
        key = (call.service, call.action)
        if call.service == "route53":
            key = ("route53", "ChangeResourceRecordSets") if call.method == "POST" and re.search(r"/hostedzone/[^/]+/rrset/?$", call.path.split("?")[0]) else None
        for rule, method in BEFORE.get(key, ()):
            # "*": the method serves several rules and checks them itself.
            if rule in self.on or (rule == "*" and self.watching):
                try:
                    getattr(self, method)(call)
                except Refused as refused:
                    raise self.counted(refused)
        if self.watching:
            for method in PREPARE.get(key, ()):
                getattr(self, method)(call)

    # ---- after forwarding ----------------------------------------------------------------------
    def after(self, call, status, headers, data):
        """Record what a successful call made; rewrite answers (clocks). Returns the body to send."""
        if not self.watching:
            return data
        key = (call.service, call.action)
        if status < 300:
            for method in RECORD.get(key, ()):
                try:
                    getattr(self, method)(call, data)
                except Exception as e:  # noqa: BLE001 - bookkeeping must never break a call
                    print(f"faultproxy: recording {call.action} failed: {e!r}", file=sys.stderr, flush=True)
        if status < 300:
            try:
                return self.rewrite_scaling(call, self.clocks.rewrite(call, data))  # scaling.py's phases after the clocks
            except Exception as e:  # noqa: BLE001 - moto's answer as it was, rather than none
                print(f"faultproxy: rewriting {call.action} failed: {e!r}", file=sys.stderr, flush=True)
        return data

    def template_data(self, call, lt_id=None, lt_name=None, version=None):
        """A launch template version's data, following the SourceVersion the proxy saw (moto does not copy it)."""
        key = (lt_id, lt_name, version)
        if version and version.isdigit() and key in self.lt_cache:
            return self.lt_cache[key]
        found = self.up.template_version(call, lt_id, lt_name, version)
        if not found:
            return {}
        lt_id, number, data = found
        with self.lock:
            source = self.lt_sources.get((lt_id, number))
        if source is not None and str(source) != str(number):
            data = {**self.template_data(call, lt_id=lt_id, version=str(source)), **data}
        with self.lock:
            self.lt_cache[(lt_id, None, str(number))] = data
        return data

    # ---- what successful calls made (for the rules above and the clocks) ------------------------------
    def record_created(self, call, data):
        root = parse_xml(data)
        if call.action == "CreateSecurityGroup" and root is not None:
            group = child_text(root, "groupId")
            if group:
                self.mark("sg", group)
                with self.lock:
                    self.sg_names[(call.get("VpcId") or "", call.get("GroupName"))] = group
        elif call.action in ("CreateInstanceProfile", "AddRoleToInstanceProfile"):
            self.mark("profile", call.get("InstanceProfileName"))
        elif call.action == "CreateTargetGroup" and root is not None:
            for arn in find_all(root, "TargetGroupArn"):
                self.mark("tg", arn.text)
        elif call.action == "CreateLoadBalancer" and root is not None:
            for arn in find_all(root, "LoadBalancerArn"):
                self.mark("lb", arn.text)
        elif call.action == "RunInstances" and root is not None:
            for instance in find_all(root, "instanceId"):
                self.mark("instance", instance.text)
        elif call.action == "CreateLaunchTemplateVersion" and root is not None and call.get("SourceVersion"):
            lt_id, number = find_all(root, "launchTemplateId"), find_all(root, "versionNumber")
            if lt_id and number:
                with self.lock:
                    self.lt_sources[(lt_id[0].text, int(number[0].text))] = call.get("SourceVersion")
        elif call.action == "RegisterTargets":
            now = self.now()
            with self.lock:
                for target in call.ending("Id"):
                    self.targets[(call.get("TargetGroupArn"), target)] = now
        elif call.action in ("RequestCertificate", "ImportCertificate"):
            arn = json.loads(data or b"{}").get("CertificateArn")
            if arn:
                self.mark("cert", arn)
                if call.action == "ImportCertificate":
                    with self.lock:
                        self.cert_issued[arn] = self.now()
        elif call.action == "DeleteAutoScalingGroup":
            with self.lock:
                self.starved.pop(call.get("AutoScalingGroupName"), None)

    def prepare_group_change(self, call):
        """moto launches and terminates a group's instances inside the call: compare before and after."""
        name = call.get("AutoScalingGroupName")
        before = self.up.groups(call, [name]) if name else self.up.groups(call)
        ids = [i["InstanceId"] for g in before for i in g.get("Instances", [])]
        call.memo["group_before"] = {g["AutoScalingGroupName"]: {i["InstanceId"] for i in g.get("Instances", [])} for g in before}
        call.memo["group_holdings"] = self.holdings(call, self.up.instances(call, ids=ids)) if ids else []

    def record_group_change(self, call, data):
        name = call.get("AutoScalingGroupName")
        was = call.memo.get("group_before", {})
        now = self.now()
        after = self.up.groups(call, [name]) if name else self.up.groups(call)
        kept = set()
        for group in after:
            ids = {i["InstanceId"] for i in group.get("Instances", [])}
            kept |= ids
            fresh = ids - was.get(group["AutoScalingGroupName"], set())
            attached = call.action == "AttachLoadBalancerTargetGroups"
            with self.lock:
                for instance in fresh:
                    self.born[("instance", instance)] = now
                    self.born[("asg", instance)] = now
                for tg in group.get("TargetGroupARNs", []):
                    for instance in ids if attached else fresh:
                        self.targets[(tg, instance)] = now
        gone = [h["id"] for h in call.memo.get("group_holdings", []) if h["id"] not in kept]
        if gone:
            terminated = {i["id"] for i in self.up.instances(call, ids=gone) if i["state"] in ("shutting-down", "terminated")}
            self.start_shutting([h for h in call.memo["group_holdings"] if h["id"] in terminated])


def by_call(table):
    """{(service, action): [(rule, method)]} from a table of checks, kept in the table's order."""
    checks = {}
    for line in table.strip().splitlines():
        rule, method, service, *actions = line.split()
        if (rule != "*" and rule not in RULES) or not hasattr(Cloud, method) or not actions:
            raise ValueError(f"bad check: {line}")
        for action in actions:
            checks.setdefault((service, action), []).append((rule, method))
    return checks


# Checks before forwarding, in the order they run on a call: rule ("*": the method serves several
# rules and checks them itself), method, service, and the service's actions it checks.
BEFORE = by_call("""
delete-order             delete_order               ec2                   DeleteSecurityGroup DeleteSubnet DeleteVpc
delete-order             delete_order               autoscaling           DeleteAutoScalingGroup
lingering-enis           lingering_enis             ec2                   DeleteSecurityGroup DeleteSubnet DeleteVpc
mapped-public-addresses  mapped_public_addresses    ec2                   DetachInternetGateway
certificate-in-use       certificate_in_use         acm                   DeleteCertificate
deletion-protection      deletion_protection        elasticloadbalancing  DeleteLoadBalancer
igw-before-lb            igw_before_lb              elasticloadbalancing  CreateLoadBalancer
marketplace-opt-in       marketplace_run            ec2                   RunInstances
eventual-consistency     consistency_groups         ec2                   AuthorizeSecurityGroupIngress AuthorizeSecurityGroupEgress
eventual-consistency     consistency_profile        ec2                   RunInstances
eventual-consistency     consistency_profile        autoscaling           CreateAutoScalingGroup UpdateAutoScalingGroup
eventual-consistency     consistency_target_groups  autoscaling           CreateAutoScalingGroup AttachLoadBalancerTargetGroups
eventual-consistency     consistency_target_groups  elasticloadbalancing  CreateListener ModifyListener CreateRule ModifyRule RegisterTargets
marketplace-opt-in       marketplace_group          autoscaling           CreateAutoScalingGroup UpdateAutoScalingGroup SetDesiredCapacity
*                        listener_certificates      elasticloadbalancing  CreateListener ModifyListener AddListenerCertificates
route53                  route53                    route53               ChangeResourceRecordSets
instance-type-stopped    instance_type_stopped      ec2                   ModifyInstanceAttribute
volume-no-shrink         volume_no_shrink           ec2                   ModifyVolume
attach-volume            attach_volume              ec2                   AttachVolume
volume-modification      volume_modification        ec2                   ModifyVolume
volume-modification      volume_modification_filter ec2                   DescribeVolumesModifications
no-capacity              no_capacity_check          ec2                   RunInstances StartInstances
access-log-race          access_log_race            elasticloadbalancing  ModifyLoadBalancerAttributes
decrement-at-min         decrement_at_min           autoscaling           TerminateInstanceInAutoScalingGroup
deregistration-phase     leaving_group_delete       autoscaling           DeleteAutoScalingGroup
scaling-activity         scaling_activity           autoscaling           UpdateAutoScalingGroup SetDesiredCapacity TerminateInstanceInAutoScalingGroup DeleteAutoScalingGroup
*                        lifecycle_action           autoscaling           CompleteLifecycleAction RecordLifecycleActionHeartbeat
*                        clocks_state_filter        ec2                   DescribeInstances
*                        clocks_certificate_filter  acm                   ListCertificates
""")
# Before forwarding, when watching: what a call's after-step needs to know.
PREPARE = {
    ("elasticloadbalancing", "DeleteLoadBalancer"): ["prepare_delete_load_balancer"],
    ("elasticloadbalancing", "DeleteListener"): ["prepare_listener_change"],
    ("elasticloadbalancing", "ModifyListener"): ["prepare_listener_change"],
    ("ec2", "TerminateInstances"): ["prepare_terminate"],
}
GROUP_CHANGES = ("CreateAutoScalingGroup", "UpdateAutoScalingGroup", "SetDesiredCapacity", "TerminateInstanceInAutoScalingGroup",
                 "DetachInstances", "AttachInstances", "ExecutePolicy", "AttachLoadBalancerTargetGroups", "DeleteAutoScalingGroup")
for _action in GROUP_CHANGES:
    PREPARE[("autoscaling", _action)] = ["prepare_group_change"]
RECORD = {
    ("elasticloadbalancing", "DeleteLoadBalancer"): ["record_delete_load_balancer"],
    ("elasticloadbalancing", "DeleteListener"): ["record_listener_change"],
    ("elasticloadbalancing", "ModifyListener"): ["record_listener_change", "record_listener_certificates"],
    ("elasticloadbalancing", "RemoveListenerCertificates"): ["record_listener_change"],
    ("elasticloadbalancing", "CreateListener"): ["record_listener_certificates"],
    ("elasticloadbalancing", "AddListenerCertificates"): ["record_listener_certificates"],
    ("ec2", "TerminateInstances"): ["record_terminate"],
    ("ec2", "ModifyVolume"): ["record_volume_modification"],
    ("s3", None): ["record_bucket_policy"],  # S3 (REST) calls have no Action: the method finds PutBucketPolicy
}
for _key in [("ec2", "CreateSecurityGroup"), ("iam", "CreateInstanceProfile"), ("iam", "AddRoleToInstanceProfile"),
             ("elasticloadbalancing", "CreateTargetGroup"), ("elasticloadbalancing", "CreateLoadBalancer"), ("ec2", "RunInstances"),
             ("ec2", "CreateLaunchTemplateVersion"), ("elasticloadbalancing", "RegisterTargets"), ("acm", "RequestCertificate"),
             ("acm", "ImportCertificate")]:
    RECORD.setdefault(_key, []).append("record_created")
for _action in GROUP_CHANGES:
    RECORD[("autoscaling", _action)] = ["record_group_change"] + (["record_created"] if _action == "DeleteAutoScalingGroup" else [])
# scaling.py: the group before a change, then (after cloud.py's own bookkeeping) what it launched and terminated.
for _action in GROUP_CHANGES:
    PREPARE[("autoscaling", _action)].append("prepare_scaling")
    RECORD[("autoscaling", _action)].append("record_scaling")
for _action in ("PutScalingPolicy", "DeletePolicy"):
    RECORD.setdefault(("autoscaling", _action), []).append("record_policy")
RECORD.setdefault(("autoscaling", "DeleteLifecycleHook"), []).append("record_hook_deleted")
