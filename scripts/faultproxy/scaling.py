"""The strict cloud's Auto Scaling rules: idle-scale-in, decrement-at-min, deregistration-phase,
scaling-activity, launch-hook. Mixed into cloud.Cloud.

What moto (5.2.5) does, read in moto/autoscaling/ and tried: SuspendProcesses / ResumeProcesses are
stored and shown in DescribeAutoScalingGroups' SuspendedProcesses, and nothing reads them; lifecycle
hooks are stored (PutLifecycleHook, DescribeLifecycleHooks; HeartbeatTimeout 3600 and DefaultResult
ABANDON when not given, as AWS) and nothing waits on them: no instance is ever Pending:Wait or
Terminating:Wait, CreateAutoScalingGroup ignores LifecycleHookSpecificationList, and
CompleteLifecycleAction / RecordLifecycleActionHeartbeat answer HTTP 500 (not implemented); hooks and
policies outlive their deleted group. A group's instances leave at once: SetDesiredCapacity and
UpdateAutoScalingGroup terminate the first unprotected instances of the group's list (the oldest
launched; ProtectedFromScaleIn is respected), TerminateInstanceInAutoScalingGroup with
ShouldDecrementDesiredCapacity=true takes desired below min without a word, and an instance terminated
by Auto Scaling stays registered, healthy, in its target groups. DescribeScalingActivities answers [].
There are no alarms: a target-tracking policy never scales anything. Every instance is shown with the
launch template's default version, whichever version it was launched from.

Auto Scaling acts on its own (alarms, heartbeat timeouts, a node completing its launch action, the end
of a deregistration delay). Here it acts lazily, in order: before each call the proxy forwards,
whatever came due since is done first, earliest first, each dated when it came due; nothing that
happens between two calls can be seen without a call, so every client sees what it would have seen
had the cloud acted on time (moto asked directly, around the proxy, lags behind). moto makes the
changes (the proxy asks it with boto3, as upstream.py does); the phases an instance goes through
(Pending:Wait, Terminating, Terminating:Wait, Terminating:Proceed) are the proxy's, written into
DescribeAutoScalingGroups, DescribeAutoScalingInstances, DescribeTargetHealth (draining) and
DescribeScalingActivities as they pass, as clocks.py does for its states. Durations: flags
(faultproxy.py --help); AWS's own values (deregistration delays, heartbeat timeouts) are multiplied by
--lifecycle-scale.
"""

import base64
import datetime
import gzip
import hashlib
import math
import re
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter
from functools import partial

from awswire import Answered, Refused, child, child_text, edit_xml, find_all, set_child
from clocks import edit_members
from upstream import FAILED

TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"
LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"
NS = "http://autoscaling.amazonaws.com/doc/2011-01-01/"
SCALING_RULES = {"idle-scale-in", "decrement-at-min", "deregistration-phase", "scaling-activity", "launch-hook"}
NOT_REGISTERED = ("unused", "Target.NotRegistered", "Target is not registered to the target group")
DRAINING = ("draining", "Target.DeregistrationInProgress", "Target deregistration is in progress")
INF = float("inf")
HISTORY = 100  # scaling activities kept per group


class Where:
    """A group as the proxy asks moto about it on its own: its account and region (what
    upstream.Upstream takes from a call), its name, and a memo (cloud.py's prepare/record_group_change
    take it as their call)."""

    action = "SetDesiredCapacity"

    def __init__(self, region, account, name):
        self.region, self.account, self.name = region, account, name
        self.memo = {}

    @classmethod
    def of(cls, call, name):
        return cls(call.region, call.account, name)

    def get(self, key, default=None):
        return self.name if key == "AutoScalingGroupName" else default

    @property
    def key(self):
        return (self.account or "", self.region, self.name)


def fields_into(parent, fields):
    """Child elements from a dict (nested dicts nest), in the parent's namespace."""
    ns = parent.tag[: parent.tag.index("}") + 1] if parent.tag.startswith("{") else ""
    for name, value in fields.items():
        if value is None:
            continue
        element = ET.SubElement(parent, ns + name)
        if isinstance(value, dict):
            fields_into(element, value)
        elif isinstance(value, bool):
            element.text = "true" if value else "false"
        else:
            element.text = str(value)
    return parent


def sub(parent, name):
    """The child element name, made if missing, in the parent's namespace."""
    found = child(parent, name)
    if found is None:
        ns = parent.tag[: parent.tag.index("}") + 1] if parent.tag.startswith("{") else ""
        found = ET.SubElement(parent, ns + name)
    return found


def new_member(parent, fields, at=None):
    ns = parent.tag[: parent.tag.index("}") + 1] if parent.tag.startswith("{") else ""
    member = ET.Element(ns + "member")
    fields_into(member, fields)
    if at is None:
        parent.append(member)
    else:
        parent.insert(at, member)
    return member


def answer(action):
    """The empty success answer of an Auto Scaling call the proxy answers itself."""
    request = hashlib.sha256(f"{action}|{time.time_ns()}".encode()).hexdigest()[:36]
    body = f'<{action}Response xmlns="{NS}"><{action}Result/><ResponseMetadata><RequestId>{request}</RequestId></ResponseMetadata></{action}Response>'
    return 200, {"Content-Type": "text/xml"}, body


def uuid_like(*parts):
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


class ScalingRules:
    scaling_ready = False  # configure_scaling (faultproxy.py) makes the state

    def configure_scaling(self, options):
        self.scale_in_warmup = options.scale_in_warmup_s
        self.alarm_period = max(options.alarm_period_s, 0.05)
        self.lifecycle_scale = options.lifecycle_scale
        self.activity_s = options.activity_s
        self.node_ready = options.node_ready_s
        self.never_ready = set(options.never_ready)
        self.plugin_digests = dict(options.plugin_digests)
        self.scaling_lock = threading.RLock()  # one tick (or lifecycle action) at a time; taken before self.lock, never after
        self.asg_groups = {}  # Where.key -> {"where", "tt" (a target-tracking policy since), "increase", "fired", "activities"}
        self.leaving = {}  # instance id -> its termination: phases, hooks, what it showed
        self.launching = {}  # instance id -> its launch held in Pending:Wait
        self.launch_versions = {}  # instance id -> (template id, version number) it was launched from
        self.scaling_due = INF  # when the next thing comes due
        self.scaling_ready = True

    def scaling_on(self, rule):
        return self.scaling_ready and rule in self.on

    def group_state(self, where):
        """The proxy's memory of a group (under self.lock)."""
        state = self.asg_groups.get(where.key)
        if state is None:
            state = self.asg_groups[where.key] = {"where": where, "tt": None, "checked": False, "increase": None, "fired": None, "activities": []}
        return state

    def where_of(self, call):
        """The group a call is about: named, or the group of its InstanceId (asked of moto once)."""
        if "where" not in call.memo:
            name = call.get("AutoScalingGroupName")
            if not name and call.get("InstanceId"):
                try:
                    found = self.up.of("autoscaling", call).describe_auto_scaling_instances(InstanceIds=[call.get("InstanceId")])["AutoScalingInstances"]
                except FAILED:
                    found = []
                name = found[0]["AutoScalingGroupName"] if found else None
            call.memo["where"] = Where.of(call, name) if name else None
        return call.memo["where"]

    def group_now(self, where):
        found = self.up.groups(where, [where.name])
        return found[0] if found else None

    def hooks_of(self, where, transition):
        """{hook name: {timeout, result}} of the group's hooks for a transition, asked of moto."""
        try:
            hooks = self.up.of("autoscaling", where).describe_lifecycle_hooks(AutoScalingGroupName=where.name)["LifecycleHooks"]
        except FAILED:
            return {}
        return {
            h["LifecycleHookName"]: {"timeout": int(h.get("HeartbeatTimeout") or 3600) * self.lifecycle_scale, "result": h.get("DefaultResult") or "ABANDON",
                                     "beat": None, "done": None}
            for h in hooks if h.get("LifecycleTransition") == transition
        }

    # ---- the clock: what Auto Scaling does on its own ---------------------------------------------
    def scaling_tick(self, call=None):
        """Before a call: everything that came due since the last one, earliest first."""
        if not self.scaling_ready or not (SCALING_RULES & self.on) or self.now() < self.scaling_due:
            return
        with self.scaling_lock:
            for _ in range(10000):
                now = self.now()
                due = [e for e in self.scaling_events() if e[0] <= now]
                if not due:
                    break
                when, _, act = min(due, key=lambda e: (e[0], e[1]))
                try:
                    act(when)
                except Exception as e:  # noqa: BLE001 - one event must not stop the others
                    print(f"faultproxy: scaling event {act.func.__name__} failed: {e!r}", file=sys.stderr, flush=True)
            self.reschedule()

    def reschedule(self):
        self.scaling_due = min((e[0] for e in self.scaling_events()), default=INF)

    def soon(self, when):
        self.scaling_due = min(self.scaling_due, when)

    def scaling_events(self):
        """(when, order, act(when)) of everything pending."""
        with self.lock:
            leaving = list(self.leaving.values())
            launching = list(self.launching.values())
            groups = list(self.asg_groups.values())
        for rec in leaving:
            if rec["proceed"] is None:
                for name, hook in rec["hooks"].items():
                    if hook["done"] is None:
                        yield (hook["beat"] or rec["drain_until"]) + hook["timeout"], 1, partial(self.hook_timeout, rec, name)
            else:
                yield rec["proceed"] + self.t.shutting_down, 0, partial(self.forget_leaving, rec)
        for rec in launching:
            if not rec["node_done"]:
                yield rec["ready_at"], 2, partial(self.node_ready_event, rec)
            for name, hook in rec["hooks"].items():
                if hook["done"] is None:
                    yield (hook["beat"] or rec["wait_from"]) + hook["timeout"], 1, partial(self.hook_timeout, rec, name)
        for group in groups:
            when = self.next_firing(group)
            if when is not None:
                yield when, 3, partial(self.fire_alarm, group)

    def act(self, where, at, change, cause, abandoned=()):
        """Auto Scaling changes a group on its own: moto makes the change now, the proxy's bookkeeping
        follows as for a call (cloud.py's prepare_group_change / record_group_change), dated at."""
        where.memo = {}
        before = self.group_now(where)
        if before is None:
            return
        self.prepare_group_change(where)
        try:
            change(self.up.of("autoscaling", where))
        except FAILED as e:
            print(f"faultproxy: {cause} in {where.name} failed: {e!r}", file=sys.stderr, flush=True)
            return
        self.record_group_change(where, b"")
        self.scaling_changed(where, before, self.group_now(where), at, cause, own=True, abandoned=abandoned)

    # =================================================================================================
    # idle-scale-in. A target-tracking CPU policy scales a quiet group in. Its scale-in alarm stays in
    # ALARM while the group idles, and CloudWatch invokes Auto Scaling actions every minute while an
    # alarm stays in that state ("Except for Auto Scaling actions, the actions happen only on state
    # transitions"); each invocation lowers the desired capacity by one while it is above the minimum,
    # except within the warm-up / default cooldown (300 s) after a capacity increase, and the group
    # terminates an instance as its default termination policy picks: in the Availability Zone with the
    # most instances (and one not protected from scale-in), one of the oldest launch template (version),
    # then the one closest to its next billing hour (here: launched first), else at random. Instances
    # protected from scale-in are never picked. Suspending the group's AlarmNotification process stops it
    # (CloudFormation's rolling update suspends AlarmNotification and ScheduledActions for this reason).
    # Here: a group with a TargetTrackingScaling policy (seen put, or asked of moto), AlarmNotification
    # not suspended, desired > min and more than --scale-in-warmup-s since its last capacity increase,
    # loses one instance, again every --alarm-period-s while that holds.
    # Sources: CloudWatch user guide, "Alarm actions",
    # https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarms-and-actions.html ;
    # Auto Scaling user guide, "Target tracking scaling policies" (the scale-in alarm, instance warmup),
    # https://docs.aws.amazon.com/autoscaling/ec2/userguide/as-scaling-target-tracking.html ;
    # "Configure termination policies" (how the default termination policy works),
    # https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-termination-policies.html ;
    # "Use instance scale-in protection", https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-instance-protection.html ;
    # "Suspend and resume processes", https://docs.aws.amazon.com/autoscaling/ec2/userguide/as-suspend-resume-processes.html ;
    # CloudFormation UpdatePolicy AutoScalingRollingUpdate (SuspendProcesses),
    # https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-updatepolicy.html
    # =================================================================================================
    def next_firing(self, group):
        if group["tt"] is None or "idle-scale-in" not in self.on:
            return None
        when = group["tt"]
        if group["increase"] is not None:
            when = max(when, group["increase"] + self.scale_in_warmup)
        if group["fired"] is not None:
            when = max(when, group["fired"] + self.alarm_period)
        return when

    def fire_alarm(self, group, at):
        where = group["where"]
        group["fired"] = at
        now_group = self.group_now(where)
        if now_group is None:
            with self.lock:
                self.asg_groups.pop(where.key, None)
            return
        suspended = {p.get("ProcessName") for p in now_group.get("SuspendedProcesses", [])}
        desired, minimum = now_group.get("DesiredCapacity", 0), now_group.get("MinSize", 0)
        if "AlarmNotification" in suspended or desired <= minimum:
            # Only a call changes that: the invocations up to now all find the same.
            group["fired"] = at + self.alarm_period * math.floor(max(self.now() - at, 0) / self.alarm_period)
            return
        victim = self.termination_pick(now_group)
        policy = group.get("policy") or "cpu"
        cause = (f"a monitor alarm TargetTracking-{where.name}-AlarmLow in state ALARM triggered policy {policy} changing the desired "
                 f"capacity from {desired} to {desired - 1}")
        if victim:
            change = lambda asg: asg.terminate_instance_in_auto_scaling_group(InstanceId=victim, ShouldDecrementDesiredCapacity=True)
        else:  # every instance protected: the desired capacity drops, nothing is terminated
            change = lambda asg: asg.set_desired_capacity(AutoScalingGroupName=where.name, DesiredCapacity=desired - 1)
        with self.lock:
            self.refusals["idle-scale-in"] += 1  # counted as the rule acting
        self.act(where, at, change, cause)

    def termination_pick(self, group):
        """The instance the default termination policy terminates on scale-in, or None."""
        with self.lock:
            waiting = set(self.launching)
            versions = dict(self.launch_versions)
        members = group.get("Instances", [])
        candidates = [i for i in members if i.get("LifecycleState") == "InService" and i["InstanceId"] not in waiting and not i.get("ProtectedFromScaleIn")]
        if not candidates:
            return None
        zones = Counter(i.get("AvailabilityZone") for i in members)
        most = max(zones[i.get("AvailabilityZone")] for i in candidates)
        candidates = [i for i in candidates if zones[i.get("AvailabilityZone")] == most]
        current = (group.get("LaunchTemplate") or {}).get("LaunchTemplateId")

        def age(instance):
            shown = instance.get("LaunchTemplate") or {}
            lt_id, version = versions.get(instance["InstanceId"], (shown.get("LaunchTemplateId"), shown.get("Version")))
            number = int(version) if str(version).isdigit() else INF
            return (lt_id == current, number)

        oldest = min(age(i) for i in candidates)
        return [i for i in candidates if age(i) == oldest][0]["InstanceId"]  # moto lists the first launched first

    def record_policy(self, call, data):
        """PutScalingPolicy / DeletePolicy: whether the group still has a target-tracking policy."""
        name = call.get("AutoScalingGroupName")
        if not name:
            found = re.search(r":autoScalingGroupName/(.+?):policyName/", call.get("PolicyName") or "")
            name = found.group(1) if found else None
        if name:
            self.note_policies(Where.of(call, name), call.get("PolicyName") if call.action == "PutScalingPolicy" else None)

    def note_policies(self, where, policy=None):
        try:
            found = self.up.of("autoscaling", where).describe_policies(AutoScalingGroupName=where.name)["ScalingPolicies"]
        except FAILED:
            return
        tracking = [p["PolicyName"] for p in found if p.get("PolicyType") == "TargetTrackingScaling"]
        with self.lock:
            group = self.group_state(where)
            group["checked"] = True
            if tracking and group["tt"] is None:
                group["tt"] = self.now()
            if not tracking:
                group["tt"] = None
            group["policy"] = policy if policy in tracking else (tracking[0] if tracking else None)
            when = self.next_firing(group)
        if when is not None:
            self.soon(when)

    # =================================================================================================
    # decrement-at-min. TerminateInstanceInAutoScalingGroup with ShouldDecrementDesiredCapacity=true
    # while the group's desired capacity equals its minimum: "ValidationError: Currently, desiredSize
    # equals minSize (N). Terminating instance without replacement will violate group's min size
    # constraint. Either set shouldDecrementDesiredCapacity flag to false or lower group's min size."
    # moto decrements below the minimum.
    # Sources: API TerminateInstanceInAutoScalingGroup (ShouldDecrementDesiredCapacity),
    # https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_TerminateInstanceInAutoScalingGroup.html ;
    # AWS's answer quoted in aws/aws-cli#47, buildkite/elastic-ci-stack-for-aws#1261,
    # TwiN/aws-eks-asg-rolling-update-handler#3.
    # =================================================================================================
    def decrement_at_min(self, call):
        if (call.get("ShouldDecrementDesiredCapacity") or "").lower() != "true":
            return
        where = self.where_of(call)
        group = self.group_now(where) if where else None
        if group and group.get("DesiredCapacity", 0) <= group.get("MinSize", 0):
            raise Refused("decrement-at-min", "ValidationError",
                          f"Currently, desiredSize equals minSize ({group.get('MinSize', 0)}). Terminating instance without replacement will violate "
                          "group's min size constraint. Either set shouldDecrementDesiredCapacity flag to false or lower group's min size.")

    # =================================================================================================
    # scaling-activity. While a scaling activity of the group is in progress, UpdateAutoScalingGroup
    # (of its sizes), SetDesiredCapacity, TerminateInstanceInAutoScalingGroup and DeleteAutoScalingGroup
    # are refused: "ScalingActivityInProgress: Scaling activity <id> is in progress and blocks this
    # action" / "You cannot delete an AutoScalingGroup while there are scaling activities in progress
    # for that group." Here an activity is in progress for --activity-s after the group launched or
    # terminated an instance (in AWS it lasts longer: through the deregistration delay and the lifecycle
    # actions, as DescribeScalingActivities shows here). moto keeps no activities.
    # Sources: the API references of UpdateAutoScalingGroup, SetDesiredCapacity,
    # TerminateInstanceInAutoScalingGroup and DeleteAutoScalingGroup (errors: ScalingActivityInProgress,
    # ResourceContention), https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_DeleteAutoScalingGroup.html ;
    # terraform-provider-aws retries the group delete on it (internal/service/autoscaling/group.go) ;
    # DescribeScalingActivities' status codes, https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_Activity.html
    # =================================================================================================
    def scaling_activity(self, call):
        where = self.where_of(call)
        if where is None:
            return
        if call.action == "UpdateAutoScalingGroup":
            sizes = {k: call.get(k) for k in ("MinSize", "MaxSize", "DesiredCapacity") if call.get(k) is not None}
            group = self.group_now(where) if sizes else None
            if not group or all(str(group.get(k)) == v for k, v in sizes.items()):
                return
        now = self.now()
        with self.lock:
            busy = [a for a in self.asg_groups.get(where.key, {}).get("activities", []) if a["start"] <= now < a["until"]]
        if not busy:
            return
        if call.action == "DeleteAutoScalingGroup":
            raise Refused("scaling-activity", "ScalingActivityInProgress", "You cannot delete an AutoScalingGroup while there are scaling activities in progress for that group.")
        raise Refused("scaling-activity", "ScalingActivityInProgress", f"Scaling activity {busy[0]['id']} is in progress and blocks this action")

    def add_activity(self, where, at, kind, instance, cause, status=None, message=None):
        """A scaling activity: kind "launch" or "terminate" of instance, at (monotonic)."""
        wall = time.time() - (self.now() - at)
        stamp = datetime.datetime.fromtimestamp(wall, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        description = f"Launching a new EC2 instance: {instance}" if kind == "launch" else f"Terminating EC2 instance: {instance}"
        activity = {"id": uuid_like(where.key, instance, kind, at), "start": at, "until": at + self.activity_s, "end": None, "wall": wall, "kind": kind,
                    "instance": instance, "description": description, "cause": f"At {stamp} {cause}.", "status": status, "message": message}
        with self.lock:
            activities = self.group_state(where)["activities"]
            activities.insert(0, activity)
            del activities[HISTORY:]
        return activity

    def end_activity(self, where, kind, instance, at, status=None, message=None):
        """The newest activity of kind for instance ends at at (status: a final one other than Successful)."""
        with self.lock:
            for activity in self.asg_groups.get(where.key, {}).get("activities", []):
                if activity["kind"] == kind and activity["instance"] == instance:
                    activity["end"] = max(at, activity["until"])
                    if status:
                        activity["status"], activity["message"] = status, message
                    return

    def activity_status(self, activity, now):
        """(StatusCode, Progress, ended) of an activity now, as AWS shows them."""
        if activity["status"]:
            return activity["status"], 100, True
        if now < activity["until"]:
            return "InProgress", 30, False
        with self.lock:
            leaving = self.leaving.get(activity["instance"]) if activity["kind"] == "terminate" else None
            launching = self.launching.get(activity["instance"]) if activity["kind"] == "launch" else None
        if leaving and leaving["since"] <= activity["start"]:
            state = self.leaving_state(leaving, now)
            if state == "Terminating":
                return "WaitingForELBConnectionDraining", 50, False
            if state == "Terminating:Wait":
                return "MidTerminatingLifecycleAction", 50, False
            if state == "Terminating:Proceed":
                return "InProgress", 75, False
        if launching and now >= launching["wait_from"]:
            return "MidLifecycleAction", 50, False
        return "Successful", 100, True

    # =================================================================================================
    # deregistration-phase. An instance leaving a group that has target groups is first deregistered
    # and waits out their deregistration delay (LifecycleState "Terminating"; the target "draining",
    # Target.DeregistrationInProgress); then, if the group has an autoscaling:EC2_INSTANCE_TERMINATING
    # hook, it waits in "Terminating:Wait" until CompleteLifecycleAction (for every such hook; ABANDON
    # ends it at once) or each hook's heartbeat timeout (its default result), a heartbeat
    # (RecordLifecycleActionHeartbeat) restarting that timeout; then "Terminating:Proceed" (EC2:
    # shutting-down; until then the EC2 instance is running) and gone. A heartbeat or completion for an
    # instance not in a wait state: "ValidationError: No active Lifecycle Action found with instance ID
    # i-...". DeleteLifecycleHook completes the hook's outstanding actions (CONTINUE for terminating
    # instances, ABANDON for launching ones) and no later instance waits for it; DeleteAutoScalingGroup
    # forgets the group's hooks and policies (moto keeps them), and with ForceDelete its outstanding
    # lifecycle actions; without it, a group whose instances are still leaving is not deleted:
    # "ResourceInUse: You cannot delete an AutoScalingGroup while there are instances or pending Spot
    # instance request(s) still in the group." (as hashicorp/terraform-provider-aws reports it; moto
    # removed them at once, so delete-order cannot see them). Lengths: the largest
    # deregistration_delay.timeout_seconds of the group's target groups and the hooks' HeartbeatTimeout
    # (asked of moto), times --lifecycle-scale. Applies to every termination the proxy sees: by
    # TerminateInstanceInAutoScalingGroup, by lowering desired or max (UpdateAutoScalingGroup,
    # SetDesiredCapacity, ExecutePolicy), by idle-scale-in.
    # Sources: Auto Scaling user guide, "Amazon EC2 Auto Scaling lifecycle hooks" (how they work, steps
    # 4-5: "the instance is deregistered from the load balancer ... then the lifecycle hook ... puts the
    # instance into a wait state"), https://docs.aws.amazon.com/autoscaling/ec2/userguide/lifecycle-hooks-overview.html ;
    # "Use Elastic Load Balancing to distribute incoming application traffic" (deregistration delay),
    # https://docs.aws.amazon.com/autoscaling/ec2/userguide/attach-load-balancer-asg.html ;
    # "Complete a lifecycle action", https://docs.aws.amazon.com/autoscaling/ec2/userguide/completing-lifecycle-hooks.html ;
    # API CompleteLifecycleAction, RecordLifecycleActionHeartbeat, DeleteLifecycleHook ("If there are any
    # outstanding lifecycle actions, they are completed first (ABANDON for launching instances, CONTINUE
    # for terminating instances)"), DeleteAutoScalingGroup (ForceDelete "also deletes any outstanding
    # lifecycle actions"), https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_DeleteLifecycleHook.html ;
    # ELB target group deregistration delay, https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-attributes.html#deregistration-delay
    # =================================================================================================
    def leaving_state(self, rec, now):
        if now < rec["drain_until"]:
            return "Terminating"
        if rec["proceed"] is None or now < rec["proceed"]:
            return "Terminating:Wait"
        if now < rec["proceed"] + self.t.shutting_down:
            return "Terminating:Proceed"
        return None

    def drain_delay(self, where, target_groups):
        elb = self.up.of("elbv2", where)
        longest = 0
        for arn in target_groups:
            try:
                attributes = elb.describe_target_group_attributes(TargetGroupArn=arn)["Attributes"]
            except FAILED:
                continue
            for a in attributes:
                if a.get("Key") == "deregistration_delay.timeout_seconds" and str(a.get("Value", "")).isdigit():
                    longest = max(longest, int(a["Value"]))
        return longest * self.lifecycle_scale

    def deregister(self, where, target_groups, instance):
        """Takes the instance out of moto's target groups (moto leaves an instance Auto Scaling
        terminated registered and healthy); {target group: (Target, HealthCheckPort)} it was in."""
        elb = self.up.of("elbv2", where)
        held = {}
        for arn in target_groups:
            try:
                found = elb.describe_target_health(TargetGroupArn=arn, Targets=[{"Id": instance}])["TargetHealthDescriptions"]
                if not found or found[0].get("TargetHealth", {}).get("State") == "unused":
                    continue
                target = found[0]["Target"]
                elb.deregister_targets(TargetGroupArn=arn, Targets=[target])
            except FAILED:
                continue
            held[arn] = (target, found[0].get("HealthCheckPort"))
        return held

    def start_leaving(self, where, group, ids, at, unregistered=(), abandoned=()):
        draining = self.scaling_on("deregistration-phase")
        hooks = self.hooks_of(where, TERMINATING) if draining else {}
        target_groups = group.get("TargetGroupARNs", [])
        delay = self.drain_delay(where, target_groups) if draining and target_groups else 0
        members = {i["InstanceId"]: i for i in group.get("Instances", [])}
        if not draining:
            return  # moto's way: gone at once (and still registered in its target groups)
        for instance in ids:
            targets = self.deregister(where, target_groups, instance) if target_groups else {}
            registered = instance not in unregistered and targets
            rec = {
                "id": instance, "key": where.key, "where": where, "since": at, "member": members.get(instance, {"InstanceId": instance}),
                "drain_until": at + (delay if registered else 0), "targets": targets if registered else {},
                "hooks": {} if instance in abandoned else {name: dict(h) for name, h in hooks.items()},
                "token": uuid_like("terminate", instance, at), "proceed": None,
            }
            if not rec["hooks"]:
                rec["proceed"] = rec["drain_until"]
            with self.lock:
                self.leaving[instance] = rec
                if rec["drain_until"] > at or rec["hooks"]:
                    self.refusals["deregistration-phase"] += 1  # counted as the rule holding an instance
            self.sync_shutting(rec)
            self.soon(at)

    def sync_shutting(self, rec):
        """The EC2 instance runs until Terminating:Proceed, then shuts down (clocks.py shows it;
        lingering-enis and mapped-public-addresses hold its groups, subnet and address meanwhile)."""
        proceed = rec["proceed"]
        with self.lock:
            held = self.shutting.get(rec["id"])
            if held is None:
                return
            held["running_until"] = INF if proceed is None else proceed
            held["until"] = INF if proceed is None else proceed + self.t.shutting_down

    def forget_leaving(self, rec, at):
        with self.lock:
            if self.leaving.get(rec["id"]) is rec:
                del self.leaving[rec["id"]]
                self.launch_versions.pop(rec["id"], None)
        self.end_activity(rec["where"], "terminate", rec["id"], at)

    def hook_timeout(self, rec, name, at):
        hook = rec["hooks"][name]
        if hook["done"] is None:
            self.complete(rec, name, hook["result"], at)

    def complete(self, rec, name, result, at):
        """A lifecycle action completed (by a call, by the node, by its timeout) at at."""
        with self.lock:
            rec["hooks"][name]["done"] = (at, result)
            settled = result == "ABANDON" or all(h["done"] is not None for h in rec["hooks"].values())
        if not settled:
            return
        if rec["id"] in self.leaving and self.leaving[rec["id"]] is rec:
            rec["proceed"] = max(at, rec["drain_until"])  # a hook deleted during the drain: the drain goes on
            self.sync_shutting(rec)
        elif self.launching.get(rec["id"]) is rec:
            self.launch_settled(rec, "ABANDON" if result == "ABANDON" else "CONTINUE", at)

    def leaving_group_delete(self, call):
        """DeleteAutoScalingGroup without ForceDelete while instances still leave it."""
        if (call.get("ForceDelete") or "").lower() == "true":
            return
        where = Where.of(call, call.get("AutoScalingGroupName"))
        now = self.now()
        with self.lock:
            still = [r for r in self.leaving.values() if r["key"] == where.key and self.leaving_state(r, now)]
        if still:
            raise Refused("deregistration-phase", "ResourceInUse",
                          "You cannot delete an AutoScalingGroup while there are instances or pending Spot instance request(s) still in the group.")

    def lifecycle_action(self, call):
        """CompleteLifecycleAction / RecordLifecycleActionHeartbeat, answered by the proxy (moto: 500)."""
        if not (self.scaling_on("deregistration-phase") or self.scaling_on("launch-hook")):
            return
        instance, token = call.get("InstanceId"), call.get("LifecycleActionToken")
        hook_name, group_name = call.get("LifecycleHookName"), call.get("AutoScalingGroupName")
        key = Where.of(call, group_name).key
        with self.scaling_lock:
            now = self.now()
            with self.lock:
                candidates = []
                if self.scaling_on("deregistration-phase"):
                    candidates += [r for r in self.leaving.values() if self.leaving_state(r, now) == "Terminating:Wait"]
                if self.scaling_on("launch-hook"):
                    candidates += [r for r in self.launching.values() if now >= r["wait_from"]]
                found = [r for r in candidates if r["key"] == key and (r["id"] == instance if instance else r["token"] == token)
                         and hook_name in r["hooks"] and r["hooks"][hook_name]["done"] is None]
                launching = instance in self.launching
            if not found:
                rule = "launch-hook" if launching or not self.scaling_on("deregistration-phase") else "deregistration-phase"
                what = f"instance ID {instance}" if instance else f"token {token}"
                raise Refused(rule, "ValidationError", f"No active Lifecycle Action found with {what}")
            rec = found[0]
            if call.action == "RecordLifecycleActionHeartbeat":
                with self.lock:
                    rec["hooks"][hook_name]["beat"] = now
            else:
                result = "ABANDON" if (call.get("LifecycleActionResult") or "").upper() == "ABANDON" else "CONTINUE"
                self.complete(rec, hook_name, result, now)
            self.reschedule()
        raise Answered(answer(call.action))

    def record_hook_deleted(self, call, data):
        """DeleteLifecycleHook: its outstanding actions complete (launching: ABANDON, terminating: CONTINUE)."""
        key, name = Where.of(call, call.get("AutoScalingGroupName")).key, call.get("LifecycleHookName")
        with self.scaling_lock:
            now = self.now()
            with self.lock:
                records = [r for r in list(self.leaving.values()) + list(self.launching.values())
                           if r["key"] == key and name in r["hooks"] and r["hooks"][name]["done"] is None]
            for rec in records:
                self.complete(rec, name, "ABANDON" if rec["id"] in self.launching else "CONTINUE", now)
            self.reschedule()

    # =================================================================================================
    # launch-hook. A group with an autoscaling:EC2_INSTANCE_LAUNCHING hook (PutLifecycleHook, or
    # LifecycleHookSpecificationList in CreateAutoScalingGroup, which moto ignores: the proxy puts them)
    # holds each new instance in "Pending:Wait": not InService, not registered in its target groups,
    # until CompleteLifecycleAction CONTINUE (InService, registered: the clocks' initial starts then) or
    # ABANDON (terminated and replaced; the activity Cancelled), or the hook's heartbeat timeout (times
    # --lifecycle-scale) with its default result. No node runs its boot script here, so the cloud plays
    # its part: --node-ready-s after the wait began it completes with CONTINUE, or ABANDON for an image
    # named by --never-ready (a node whose boot failed).
    # Sources: Auto Scaling user guide, "Amazon EC2 Auto Scaling lifecycle hooks",
    # https://docs.aws.amazon.com/autoscaling/ec2/userguide/lifecycle-hooks-overview.html ; "Add lifecycle
    # hooks" (at group creation: LifecycleHookSpecificationList),
    # https://docs.aws.amazon.com/autoscaling/ec2/userguide/adding-lifecycle-hooks.html ; "Complete a
    # lifecycle action" (CONTINUE / ABANDON on launch) ; API CreateAutoScalingGroup,
    # https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_CreateAutoScalingGroup.html
    # =================================================================================================
    def start_launching(self, where, group, ids, at):
        hooks = self.hooks_of(where, LAUNCHING)
        if not hooks:
            return
        wait_from = at + (self.t.asg_pending if "clocks" in self.on else 0)
        for instance in ids:
            rec = {
                "id": instance, "key": where.key, "where": where, "since": at, "wait_from": wait_from,
                "ready_at": wait_from + self.node_ready, "node_done": False, "target_groups": list(group.get("TargetGroupARNs", [])),
                "hooks": {name: dict(h) for name, h in hooks.items()}, "token": uuid_like("launch", instance, at),
                "image": self.image_of(where, instance),
            }
            with self.lock:
                self.launching[instance] = rec
                self.refusals["launch-hook"] += 1  # counted as the rule holding an instance
            self.soon(wait_from)

    def plugin_fails(self, rec):
        """With --plugin-digests: the nodes' boot script's plugin check (src/cluster/user_data/ams-node.sh:
        each line SHA256 FILE URL of its PLUGINS block is fetched and installed only if the file's
        SHA-256 is SHA256, else the boot fails). The cloud plays the fetch: FILE has the digest
        --plugin-digests gives it, and a FILE it does not name cannot be fetched. True when the
        instance's launch template version names a plugin that fails so."""
        if not self.plugin_digests:
            return False
        launched = self.launch_versions.get(rec["id"])
        found = self.up.template_version(rec["where"], lt_id=launched[0], version=str(launched[1])) if launched else None
        if found is None:
            print(f"faultproxy: {rec['id']}: its launch template version cannot be read: its boot fails", file=sys.stderr)
            return True  # fails closed: a check that cannot look must not pass
        text = base64.b64decode(found[2].get("UserData") or "")
        if text[:2] == b"\x1f\x8b":
            text = gzip.decompress(text)
        block = re.search(r"<<'AMS_END_OF_PLUGINS'\n(.*?)^AMS_END_OF_PLUGINS$", text.decode(errors="replace"), re.S | re.M)
        for line in (block.group(1).splitlines() if block else []):
            parts = line.split()
            if len(parts) == 3 and self.plugin_digests.get(parts[1]) != parts[0]:
                return True
        return False

    def node_ready_event(self, rec, at):
        """The node's boot script says ready (CONTINUE), or failed (ABANDON): for a --never-ready image, or a
        plugin whose digest is not the stack file's (plugin_fails)."""
        rec["node_done"] = True
        result = "ABANDON" if rec["image"] in self.never_ready or self.plugin_fails(rec) else "CONTINUE"
        for name, hook in list(rec["hooks"].items()):
            if hook["done"] is None and self.launching.get(rec["id"]) is rec:
                self.complete(rec, name, result, at)

    def launch_settled(self, rec, result, at):
        with self.lock:
            if self.launching.get(rec["id"]) is not rec:
                return
            if result == "CONTINUE":
                del self.launching[rec["id"]]
                for arn in rec["target_groups"]:
                    self.targets[(arn, rec["id"])] = at  # registered now: the target's initial starts
        if result == "CONTINUE":
            self.end_activity(rec["where"], "launch", rec["id"], at)
            return
        where = rec["where"]
        self.end_activity(where, "launch", rec["id"], at, "Cancelled",
                          f"Instance failed to complete user's Lifecycle Action: Lifecycle Action with token {rec['token']} was abandoned with Lifecycle Action Result ABANDON")
        self.act(where, at, lambda asg: asg.terminate_instance_in_auto_scaling_group(InstanceId=rec["id"], ShouldDecrementDesiredCapacity=False),
                 f"instance {rec['id']} was abandoned by its launch lifecycle action and is replaced", abandoned={rec["id"]})

    def launch_hooks_at_creation(self, call):
        """CreateAutoScalingGroup's LifecycleHookSpecificationList, which moto ignores: put into moto."""
        specs = {}
        for k, v in call.pairs():
            found = re.match(r"LifecycleHookSpecificationList\.member\.(\d+)\.(\w+)$", k)
            if found:
                specs.setdefault(int(found.group(1)), {})[found.group(2)] = v
        asg = self.up.of("autoscaling", call)
        for _, spec in sorted(specs.items()):
            kwargs = {"AutoScalingGroupName": call.get("AutoScalingGroupName"), "LifecycleHookName": spec.get("LifecycleHookName"),
                      "LifecycleTransition": spec.get("LifecycleTransition")}
            if spec.get("HeartbeatTimeout"):
                kwargs["HeartbeatTimeout"] = int(spec["HeartbeatTimeout"])
            for optional in ("DefaultResult", "NotificationMetadata", "NotificationTargetARN", "RoleARN"):
                if spec.get(optional):
                    kwargs[optional] = spec[optional]
            try:
                asg.put_lifecycle_hook(**kwargs)
            except FAILED as e:
                print(f"faultproxy: putting the lifecycle hook {kwargs['LifecycleHookName']} failed: {e!r}", file=sys.stderr, flush=True)

    # ---- what group changes did (every rule above) --------------------------------------------------
    def prepare_scaling(self, call):
        where = self.where_of(call)
        call.memo["scaling_before"] = self.group_now(where) if where else None

    def record_scaling(self, call, data):
        where = self.where_of(call)
        if where is None or not self.scaling_ready:
            return
        if call.action == "DeleteAutoScalingGroup":
            return self.group_deleted(call, where)
        if call.action == "CreateAutoScalingGroup":
            self.launch_hooks_at_creation(call)
        if call.action == "TerminateInstanceInAutoScalingGroup":
            cause = f"instance {call.get('InstanceId')} was taken out of service in response to a user request"
        else:
            cause = "an instance was taken out of service in response to a difference between desired and actual capacity"
        with self.scaling_lock:
            self.scaling_changed(where, call.memo.get("scaling_before"), self.group_now(where), self.now(), cause, action=call.action)
            self.reschedule()

    def scaling_changed(self, where, before, after, at, cause, action=None, own=False, abandoned=()):
        """What a change of the group (by a call, or by Auto Scaling itself) launched and terminated."""
        if after is None:
            return
        was = {i["InstanceId"] for i in (before or {}).get("Instances", [])}
        now_ids = [i["InstanceId"] for i in after.get("Instances", [])]
        fresh = [i for i in now_ids if i not in was]
        gone = [i for i in (before or {}).get("Instances", []) if i["InstanceId"] not in set(now_ids)]
        with self.lock:
            group = self.group_state(where)
            group["where"] = where
            checked = group["checked"]
            if after.get("DesiredCapacity", 0) > (before or {}).get("DesiredCapacity", 0):
                group["increase"] = at
            unregistered = {i["InstanceId"] for i in gone if i["InstanceId"] in self.launching}  # never InService
            for instance in gone:
                self.launching.pop(instance["InstanceId"], None)
            if own:  # dated when it came due
                for instance in fresh:
                    self.born[("instance", instance)] = self.born[("asg", instance)] = at
                    for arn in after.get("TargetGroupARNs", []):
                        self.targets[(arn, instance)] = at
        if not checked:
            self.note_policies(where)
        if action in ("AttachInstances", "DetachInstances"):
            return  # not launched, not terminated
        spec = after.get("LaunchTemplate") or {}
        if fresh and spec.get("LaunchTemplateId"):
            found = self.up.template_version(where, spec["LaunchTemplateId"], None, spec.get("Version"))
            if found:
                with self.lock:
                    for instance in fresh:
                        self.launch_versions[instance] = (found[0], str(found[1]))
        terminated = []
        if gone:
            states = {i["id"]: i["state"] for i in self.up.instances(where, ids=[i["InstanceId"] for i in gone])}
            terminated = [i["InstanceId"] for i in gone if states.get(i["InstanceId"]) in ("shutting-down", "terminated")]
        for instance in fresh:
            self.add_activity(where, at, "launch", instance, f"an instance was started in response to a difference between desired and actual capacity, "
                                                              f"increasing the capacity from {len(was)} to {len(now_ids)}")
        for instance in terminated:
            self.add_activity(where, at, "terminate", instance, cause)
        if terminated:
            self.start_leaving(where, before, terminated, at, unregistered, abandoned)
        if fresh and self.scaling_on("launch-hook"):
            self.start_launching(where, after, fresh, at)

    def group_deleted(self, call, where):
        """The group is gone: so are its hooks and policies (moto keeps them), its memory, and with
        ForceDelete its outstanding lifecycle actions."""
        with self.scaling_lock:
            now = self.now()
            with self.lock:
                self.asg_groups.pop(where.key, None)
                for instance, rec in list(self.launching.items()):
                    if rec["key"] == where.key:
                        del self.launching[instance]
                leaving = [r for r in self.leaving.values() if r["key"] == where.key and r["proceed"] is None]
            for rec in leaving:
                rec["proceed"] = max(now, rec["drain_until"]) if (call.get("ForceDelete") or "").lower() != "true" else now
                self.sync_shutting(rec)
            self.reschedule()
        asg = self.up.of("autoscaling", where)
        try:
            for hook in asg.describe_lifecycle_hooks(AutoScalingGroupName=where.name)["LifecycleHooks"]:
                asg.delete_lifecycle_hook(AutoScalingGroupName=where.name, LifecycleHookName=hook["LifecycleHookName"])
            for policy in asg.describe_policies(AutoScalingGroupName=where.name)["ScalingPolicies"]:
                asg.delete_policy(AutoScalingGroupName=where.name, PolicyName=policy["PolicyName"])
        except FAILED:
            pass

    # ---- the phases in moto's answers -------------------------------------------------------------
    def rewrite_scaling(self, call, data):
        if not self.scaling_ready or call.service not in ("autoscaling", "elasticloadbalancing"):
            return data
        method = {
            ("autoscaling", "DescribeAutoScalingGroups"): self.groups_view,
            ("autoscaling", "DescribeAutoScalingInstances"): self.instances_view,
            ("autoscaling", "DescribeScalingActivities"): self.activities_view,
            ("elasticloadbalancing", "DescribeTargetHealth"): self.target_health_view,
        }.get((call.service, call.action))
        if method is None:
            return data
        try:
            return method(call, data)
        except Exception as e:  # noqa: BLE001 - moto's answer as it came, rather than none
            print(f"faultproxy: rewriting {call.action} for the scaling rules failed: {e!r}", file=sys.stderr, flush=True)
            return data

    def views(self, call):
        """(now, leaving records of the call's account and region with their state, ids in Pending:Wait)."""
        now = self.now()
        scope = (call.account or "", call.region)
        with self.lock:
            leaving = [(r, self.leaving_state(r, now)) for r in self.leaving.values() if r["key"][:2] == scope]
            waiting = {i: r["wait_from"] for i, r in self.launching.items() if r["key"][:2] == scope} if "launch-hook" in self.on else {}
        return now, [(r, s) for r, s in leaving if s], waiting

    def member_fields(self, rec, state, with_group=False):
        fields = {k: v for k, v in rec["member"].items() if k not in ("LifecycleState", "AutoScalingGroupName")}
        if with_group:
            fields = {"InstanceId": fields.pop("InstanceId"), "AutoScalingGroupName": rec["key"][2], **fields}
        fields["LifecycleState"] = state
        return fields

    def mark_waiting(self, member, waiting, now):
        instance = child_text(member, "InstanceId")
        if instance in waiting and child_text(member, "LifecycleState") == "InService":
            set_child(member, "LifecycleState", "Pending:Wait" if now >= waiting[instance] else "Pending")  # Pending (clocks.py) first
            return True
        return False

    def groups_view(self, call, data):
        now, leaving, waiting = self.views(call)
        if not leaving and not waiting:
            return data

        def edit(group):
            name = child_text(group, "AutoScalingGroupName")
            instances = sub(group, "Instances")
            changed = any([self.mark_waiting(member, waiting, now) for member in list(instances)])
            for rec, state in leaving:
                if rec["key"][2] == name:
                    new_member(instances, self.member_fields(rec, state))
                    changed = True
            return changed

        return edit_members(data, "AutoScalingGroups", edit)

    def instances_view(self, call, data):
        now, leaving, waiting = self.views(call)
        asked = set(call.values("InstanceIds"))
        if not leaving and not waiting:
            return data

        def edit(root):
            lists = find_all(root, "AutoScalingInstances")
            if not lists:
                return False
            changed = any([self.mark_waiting(member, waiting, now) for member in list(lists[0])])
            for rec, state in leaving:
                if not asked or rec["id"] in asked:
                    new_member(lists[0], self.member_fields(rec, state, with_group=True))
                    changed = True
            return changed

        return edit_xml(data, edit)

    def target_health_view(self, call, data):
        now, leaving, waiting = self.views(call)
        group = call.get("TargetGroupArn")
        draining = {r["id"]: r["targets"][group] for r, _ in leaving if group in r["targets"] and now < r["drain_until"]}
        if not draining and not waiting:
            return data
        asked = {v for k, v in call.pairs() if re.match(r"Targets\.member\.\d+\.Id$", k)}

        def health(description, state):
            target_health = sub(description, "TargetHealth")
            for name, value in zip(("State", "Reason", "Description"), state):
                set_child(target_health, name, value)

        def edit(root):
            lists = find_all(root, "TargetHealthDescriptions")
            if not lists:
                return False
            changed, shown = False, set()
            for description in list(lists[0]):
                target = child(description, "Target")
                instance = child_text(target, "Id") if target is not None else None
                shown.add(instance)
                if instance in draining:
                    health(description, DRAINING)
                    changed = True
                elif instance in waiting:
                    if asked:
                        health(description, NOT_REGISTERED)
                    else:
                        lists[0].remove(description)
                    changed = True
            for instance, (target, port) in draining.items():
                if instance not in shown and (not asked or instance in asked):
                    new_member(lists[0], {"Target": {"Id": target.get("Id"), "Port": target.get("Port")}, "HealthCheckPort": port,
                                          "TargetHealth": dict(zip(("State", "Reason", "Description"), DRAINING))})
                    changed = True
            return changed

        return edit_xml(data, edit)

    def activities_view(self, call, data):
        if "scaling-activity" not in self.on:
            return data  # moto's: none
        now = self.now()
        name, wanted = call.get("AutoScalingGroupName"), set(call.values("ActivityIds"))
        scope = (call.account or "", call.region)
        with self.lock:
            activities = [(key[2], a) for key, g in self.asg_groups.items() if key[:2] == scope and (not name or key[2] == name) for a in g["activities"]]
        activities = [(g, a) for g, a in activities if not wanted or a["id"] in wanted]
        if not activities:
            return data
        activities.sort(key=lambda ga: -ga[1]["start"])
        limit = int(call.get("MaxRecords") or 100)

        def stamp(wall):
            return datetime.datetime.fromtimestamp(wall, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")

        def edit(root):
            lists = find_all(root, "Activities")
            if not lists:
                return False
            for position, (group, a) in enumerate(activities):
                status, progress, ended = self.activity_status(a, now)
                new_member(lists[0], {
                    "ActivityId": a["id"], "AutoScalingGroupName": group, "Description": a["description"], "Cause": a["cause"],
                    "StartTime": stamp(a["wall"]), "EndTime": stamp(a["wall"] + (a["end"] or a["until"]) - a["start"]) if ended else None,
                    "StatusCode": status, "StatusMessage": a["message"], "Progress": progress, "Details": "{}",
                }, at=position)
            for extra in list(lists[0])[limit:]:
                lists[0].remove(extra)
            return True

        return edit_xml(data, edit)
