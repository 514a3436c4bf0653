"""Tests of the strict cloud's Auto Scaling rules (scaling.py) against a real moto server.

Run: .venv/bin/python scripts/faultproxy/test_scaling.py   (standard library unittest; needs
`scripts/emulator.sh install` for .venv). Starts its own moto and proxies on free loopback ports.
For every rule: what moto alone does, that the rule bites (AWS's code and message, or what Auto
Scaling does on its own), and that the right behaviour gets through. Durations are scaled down to
about a second (--lifecycle-scale 0.01 turns AWS's 100 s into 1 s).
"""

import time
import unittest

import test_strict as base
from harness import PROBLEMS, refusal, start_proxy, stop_all
from test_strict import UBUNTU, Cloud, client, retry, rules, wait_for

NOBLE = "ami-0ubuntu2404noble01"  # named by --never-ready: its nodes never finish booting
ACTIVITY = 0.5
WARMUP = 1.0
PERIOD = 0.5
NODE_READY = 0.6
TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"
LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"
BUSY = {"ScalingActivityInProgress"}


def setUpModule():
    global MOTO, SCALE, SLOW, OFF
    MOTO = base.start_moto()
    flags = ["--scale-in-warmup-s", str(WARMUP), "--alarm-period-s", str(PERIOD), "--activity-s", str(ACTIVITY), "--node-ready-s", str(NODE_READY)]
    SCALE = start_proxy(MOTO, *base.strict_args(*flags, "--never-ready", NOBLE))
    # Nodes that take a minute to boot: the tests complete their launch actions by hand.
    SLOW = start_proxy(MOTO, *base.strict_args(*flags[:-1], "60"))
    OFF = start_proxy(MOTO, "--cloud", "strict", "--rules", "all,-idle-scale-in,-decrement-at-min,-deregistration-phase,-scaling-activity,-launch-hook")


def tearDownModule():
    stop_all()


class ScalingCase(unittest.TestCase):
    def proxy(self):
        return SCALE

    def setUp(self):
        self.endpoint = self.proxy()
        self.aws = Cloud(self.endpoint)
        self.asg = self.aws.autoscaling
        self.before = rules(self.endpoint)
        self.net = self.aws.network(public=False)

    def tearDown(self):
        self.assertEqual(PROBLEMS, [], "the proxy reported a failure")

    def bit(self, rule, times=1):
        self.assertGreaterEqual(rules(self.endpoint)[rule] - self.before[rule], times, rules(self.endpoint))

    def target_group(self, delay_s=None):
        tg = self.aws.target_group(self.net)
        if delay_s is not None:
            self.aws.elbv2.modify_target_group_attributes(TargetGroupArn=tg, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": str(delay_s)}])
        time.sleep(base.T["consistency"])  # eventual-consistency: a new target group is not found at once
        return tg

    def template(self, image=UBUNTU):
        return self.aws.ec2.create_launch_template(LaunchTemplateName=f"lt{time.time_ns()}", LaunchTemplateData={"ImageId": image})["LaunchTemplate"]["LaunchTemplateId"]

    def group(self, desired=1, minimum=0, maximum=4, tg=None, image=UBUNTU, **kwargs):
        name = f"asg{time.time_ns()}"
        self.asg.create_auto_scaling_group(AutoScalingGroupName=name, MinSize=minimum, MaxSize=maximum, DesiredCapacity=desired, VPCZoneIdentifier=self.net["subnets"][0],
                                           LaunchTemplate={"LaunchTemplateId": self.template(image), "Version": "1"}, TargetGroupARNs=[tg] if tg else [], **kwargs)
        return name

    def described(self, name):
        return self.asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]

    def states(self, name):
        return {i["InstanceId"]: i["LifecycleState"] for i in self.described(name)["Instances"]}

    def instance_state(self, instance):
        found = self.asg.describe_auto_scaling_instances(InstanceIds=[instance])["AutoScalingInstances"]
        return found[0]["LifecycleState"] if found else None

    def health(self, tg, instance=None):
        kwargs = {"Targets": [{"Id": instance}]} if instance else {}
        return {t["Target"]["Id"]: t["TargetHealth"]["State"] for t in self.aws.elbv2.describe_target_health(TargetGroupArn=tg, **kwargs)["TargetHealthDescriptions"]}

    def settled(self, fn, **kwargs):
        """What a careful tool does with ScalingActivityInProgress: send it again."""
        return retry(fn, BUSY, **kwargs)[0]

    def hook(self, name, transition=TERMINATING, heartbeat_s=300, default="CONTINUE", hook="drain"):
        self.asg.put_lifecycle_hook(AutoScalingGroupName=name, LifecycleHookName=hook, LifecycleTransition=transition, HeartbeatTimeout=heartbeat_s, DefaultResult=default)

    def complete(self, name, instance, result="CONTINUE", hook="drain"):
        return self.asg.complete_lifecycle_action(AutoScalingGroupName=name, LifecycleHookName=hook, InstanceId=instance, LifecycleActionResult=result)

    def heartbeat(self, name, instance, hook="drain"):
        return self.asg.record_lifecycle_action_heartbeat(AutoScalingGroupName=name, LifecycleHookName=hook, InstanceId=instance)


def cpu_policy(asg, name):
    # moto keeps policies by name alone: each group's has its own.
    asg.put_scaling_policy(AutoScalingGroupName=name, PolicyName=f"{name}-cpu", PolicyType="TargetTrackingScaling",
                           TargetTrackingConfiguration={"PredefinedMetricSpecification": {"PredefinedMetricType": "ASGAverageCPUUtilization"}, "TargetValue": 50.0})


class IdleScaleIn(ScalingCase):
    def roll_one(self, name):
        """Launch before terminate's first step: a new template version, one instance more."""
        group = self.described(name)
        lt = group["LaunchTemplate"]["LaunchTemplateId"]
        self.aws.ec2.create_launch_template_version(LaunchTemplateId=lt, LaunchTemplateData={"ImageId": base.AMS_OLD})
        self.settled(self.asg.update_auto_scaling_group, AutoScalingGroupName=name, LaunchTemplate={"LaunchTemplateId": lt, "Version": "2"},
                     DesiredCapacity=group["DesiredCapacity"] + 1)
        return set(self.states(name)) - {i["InstanceId"] for i in group["Instances"]}

    def test_a_quiet_group_scales_in_after_the_warmup_old_version_first(self):
        name = self.group(desired=1, minimum=1)
        old = set(self.states(name))
        cpu_policy(self.asg, name)
        new = self.roll_one(name)
        started = time.time()
        self.assertEqual(self.described(name)["DesiredCapacity"], 2)
        wait_for(lambda: self.described(name)["DesiredCapacity"] == 1)
        self.assertGreaterEqual(time.time() - started, WARMUP - 0.3)  # not before the warm-up is over
        staying = {i for i, s in self.states(name).items() if not s.startswith("Terminat")}
        self.assertEqual(staying, new)  # the old serving instance went, as AWS's default termination policy picks
        activities = self.asg.describe_scaling_activities(AutoScalingGroupName=name)["Activities"]
        gone = f"Terminating EC2 instance: {old.pop()}"
        self.assertIn("a monitor alarm", [a for a in activities if a["Description"] == gone][0]["Cause"])
        self.bit("idle-scale-in")
        # At the minimum it stops.
        time.sleep(WARMUP + 2 * PERIOD)
        self.assertEqual((self.described(name)["DesiredCapacity"], set(self.states(name))), (1, new))

    def test_suspending_alarm_notification_holds_it_off_as_a_roll_must(self):
        name = self.group(desired=1, minimum=1)
        cpu_policy(self.asg, name)
        self.asg.suspend_processes(AutoScalingGroupName=name, ScalingProcesses=["AlarmNotification", "ScheduledActions"])
        new = self.roll_one(name)
        time.sleep(WARMUP + 3 * PERIOD)
        self.assertEqual(self.described(name)["DesiredCapacity"], 2)
        self.assertEqual(len(self.states(name)), 2)
        # The roll terminates the old one itself, then resumes: nothing more happens at the minimum.
        old = set(self.states(name)) - new
        self.settled(self.asg.terminate_instance_in_auto_scaling_group, InstanceId=old.pop(), ShouldDecrementDesiredCapacity=True)
        self.asg.resume_processes(AutoScalingGroupName=name, ScalingProcesses=["AlarmNotification", "ScheduledActions"])
        time.sleep(2 * PERIOD)
        self.assertEqual({i for i, s in self.states(name).items() if not s.startswith("Terminat")}, new)
        # Resumed above the minimum: it scales in again.
        self.settled(self.asg.set_desired_capacity, AutoScalingGroupName=name, DesiredCapacity=2)
        wait_for(lambda: self.described(name)["DesiredCapacity"] == 1)

    def test_instances_protected_from_scale_in_are_never_picked(self):
        name = self.group(desired=3, minimum=1)
        first = list(self.states(name))[0]
        self.asg.set_instance_protection(AutoScalingGroupName=name, InstanceIds=[first], ProtectedFromScaleIn=True)
        cpu_policy(self.asg, name)
        wait_for(lambda: self.described(name)["DesiredCapacity"] == 1)
        wait_for(lambda: list(self.states(name)) == [first])
        self.bit("idle-scale-in", 2)

    def test_moto_alone_never_scales_and_the_rule_switches_off(self):
        for endpoint in (MOTO, OFF):
            aws = Cloud(endpoint)
            net = aws.network(public=False)
            lt = aws.ec2.create_launch_template(LaunchTemplateName=f"lt{time.time_ns()}", LaunchTemplateData={"ImageId": UBUNTU})["LaunchTemplate"]["LaunchTemplateId"]
            name = f"asg{time.time_ns()}"
            aws.autoscaling.create_auto_scaling_group(AutoScalingGroupName=name, MinSize=1, MaxSize=3, DesiredCapacity=3, VPCZoneIdentifier=net["subnets"][0],
                                                      LaunchTemplate={"LaunchTemplateId": lt})
            cpu_policy(aws.autoscaling, name)
            time.sleep(WARMUP + PERIOD)
            aws.autoscaling.describe_scaling_activities(AutoScalingGroupName=name)  # a call through the proxy
            self.assertEqual(aws.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]["DesiredCapacity"], 3, endpoint)


class DecrementAtMin(ScalingCase):
    MESSAGE = ("Currently, desiredSize equals minSize ({}). Terminating instance without replacement will violate group's min size constraint. "
               "Either set shouldDecrementDesiredCapacity flag to false or lower group's min size.")

    def test_a_decrement_below_the_minimum_is_refused(self):
        name = self.group(desired=1, minimum=1)
        instance = list(self.states(name))[0]
        code, message, status = refusal(self.asg.terminate_instance_in_auto_scaling_group, InstanceId=instance, ShouldDecrementDesiredCapacity=True)
        self.assertEqual((code, message, status), ("ValidationError", self.MESSAGE.format(1), 400))
        self.bit("decrement-at-min")
        # Either of the ways out the message names gets through.
        self.settled(self.asg.terminate_instance_in_auto_scaling_group, InstanceId=instance, ShouldDecrementDesiredCapacity=False)
        group = self.described(name)
        self.assertEqual(group["DesiredCapacity"], 1)
        replacement = [i for i, s in self.states(name).items() if i != instance][0]
        self.settled(self.asg.update_auto_scaling_group, AutoScalingGroupName=name, MinSize=0)
        self.settled(self.asg.terminate_instance_in_auto_scaling_group, InstanceId=replacement, ShouldDecrementDesiredCapacity=True)
        self.assertEqual(self.described(name)["DesiredCapacity"], 0)

    def test_moto_alone_decrements_below_the_minimum(self):
        moto = Cloud(MOTO)
        net = moto.network(public=False)
        lt = moto.ec2.create_launch_template(LaunchTemplateName=f"lt{time.time_ns()}", LaunchTemplateData={"ImageId": UBUNTU})["LaunchTemplate"]["LaunchTemplateId"]
        name = f"asg{time.time_ns()}"
        moto.autoscaling.create_auto_scaling_group(AutoScalingGroupName=name, MinSize=1, MaxSize=1, DesiredCapacity=1, VPCZoneIdentifier=net["subnets"][0],
                                                   LaunchTemplate={"LaunchTemplateId": lt})
        instance = moto.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]["Instances"][0]["InstanceId"]
        moto.autoscaling.terminate_instance_in_auto_scaling_group(InstanceId=instance, ShouldDecrementDesiredCapacity=True)
        group = moto.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
        self.assertEqual((group["MinSize"], group["DesiredCapacity"]), (1, 0))


class DeregistrationPhase(ScalingCase):
    def leaving_group(self, delay_s=100, heartbeat_s=200, default="CONTINUE", hook=True):
        """A group of two in a target group (deregistration delay delay_s: 1 s here) with a
        termination hook (heartbeat_s: 2 s here); its first instance, terminated with a decrement."""
        tg = self.target_group(delay_s)
        name = self.group(desired=2, tg=tg)
        if hook:
            self.hook(name, heartbeat_s=heartbeat_s, default=default)
        instance, other = list(self.states(name))
        self.settled(self.asg.terminate_instance_in_auto_scaling_group, InstanceId=instance, ShouldDecrementDesiredCapacity=True)
        return name, tg, instance, other

    def test_a_leaving_instance_drains_then_waits_for_its_hook(self):
        name, tg, instance, other = self.leaving_group()
        self.assertEqual(self.states(name)[instance], "Terminating")
        self.assertEqual(self.instance_state(instance), "Terminating")
        self.assertEqual(self.health(tg)[instance], "draining")
        self.assertIn(self.health(tg)[other], ("initial", "healthy"))
        self.assertEqual(self.health(tg, instance), {instance: "draining"})
        self.assertEqual(self.aws.state(instance), "running")
        self.assertEqual(self.described(name)["DesiredCapacity"], 1)
        # No lifecycle action yet: neither a heartbeat nor a completion.
        for call in (self.heartbeat, self.complete):
            code, message, _ = refusal(call, name=name, instance=instance)
            self.assertEqual((code, message), ("ValidationError", f"No active Lifecycle Action found with instance ID {instance}"))
        self.bit("deregistration-phase", 3)
        wait_for(lambda: self.states(name).get(instance) == "Terminating:Wait")
        self.assertEqual(self.health(tg), {other: "healthy"})
        self.assertEqual(self.health(tg, instance)[instance], "unused")
        self.assertEqual(self.aws.state(instance), "running")
        # The drain agent's way: heartbeats, then CONTINUE.
        self.heartbeat(name, instance)
        self.complete(name, instance)
        self.assertEqual(self.states(name)[instance], "Terminating:Proceed")
        self.assertEqual(self.aws.state(instance), "shutting-down")
        wait_for(lambda: instance not in self.states(name) and self.aws.state(instance) == "terminated")
        self.assertIsNone(self.instance_state(instance))
        self.assertEqual(refusal(self.complete, name=name, instance=instance)[0], "ValidationError")

    def test_the_heartbeat_timeout_ends_the_wait_and_a_heartbeat_restarts_it(self):
        name, tg, instance, _ = self.leaving_group(delay_s=0, heartbeat_s=100)
        wait_for(lambda: self.states(name).get(instance) == "Terminating:Wait")
        waiting = time.time()
        time.sleep(0.6)
        self.heartbeat(name, instance)
        time.sleep(0.6)
        self.assertEqual(self.states(name)[instance], "Terminating:Wait")  # 1.2 s after the wait began: the heartbeat restarted 1 s
        wait_for(lambda: not self.states(name).get(instance, "").endswith("Wait"))
        self.assertGreater(time.time() - waiting, 1.5)
        wait_for(lambda: instance not in self.states(name))

    def test_without_target_groups_or_hooks_it_goes_at_once(self):
        name = self.group(desired=2)
        instance = list(self.states(name))[0]
        self.settled(self.asg.terminate_instance_in_auto_scaling_group, InstanceId=instance, ShouldDecrementDesiredCapacity=True)
        self.assertEqual(self.states(name).get(instance), "Terminating:Proceed")
        self.assertEqual(self.aws.state(instance), "shutting-down")

    def test_a_deleted_hook_completes_its_actions_and_holds_no_one_after(self):
        name, tg, instance, other = self.leaving_group(delay_s=0, heartbeat_s=3000)
        wait_for(lambda: self.states(name).get(instance) == "Terminating:Wait")
        self.asg.delete_lifecycle_hook(AutoScalingGroupName=name, LifecycleHookName="drain")
        self.assertEqual(self.states(name)[instance], "Terminating:Proceed")
        self.settled(self.asg.terminate_instance_in_auto_scaling_group, InstanceId=other, ShouldDecrementDesiredCapacity=True)
        self.assertEqual(self.states(name)[other], "Terminating:Proceed")

    def test_scale_in_by_desired_capacity_drains_too_and_the_group_waits_for_it(self):
        tg = self.target_group(100)
        name = self.group(desired=2, tg=tg)
        self.hook(name, heartbeat_s=3000)
        self.settled(self.asg.update_auto_scaling_group, AutoScalingGroupName=name, MinSize=0, MaxSize=0, DesiredCapacity=0)
        self.assertEqual(set(self.states(name).values()), {"Terminating"})
        code, message, _ = refusal(self.asg.delete_auto_scaling_group, AutoScalingGroupName=name)
        self.assertEqual((code, message), ("ResourceInUse", "You cannot delete an AutoScalingGroup while there are instances or pending Spot instance request(s) still in the group."))
        wait_for(lambda: set(self.states(name).values()) == {"Terminating:Wait"})
        for instance in self.states(name):
            self.complete(name, instance)
        wait_for(lambda: not self.states(name))
        self.settled(self.asg.delete_auto_scaling_group, AutoScalingGroupName=name)
        # Its hooks went with it (moto keeps them).
        self.assertEqual(self.asg.describe_lifecycle_hooks(AutoScalingGroupName=name)["LifecycleHooks"], [])

    def test_force_delete_drops_the_outstanding_actions(self):
        name, tg, instance, _ = self.leaving_group(delay_s=0, heartbeat_s=3000)
        wait_for(lambda: self.states(name).get(instance) == "Terminating:Wait")
        self.settled(self.asg.delete_auto_scaling_group, AutoScalingGroupName=name, ForceDelete=True)
        self.assertEqual(refusal(self.complete, name=name, instance=instance)[0], "ValidationError")
        wait_for(lambda: self.aws.state(instance) == "terminated")

    def test_moto_alone_drops_the_instance_and_keeps_it_healthy(self):
        off = Cloud(OFF)
        net = off.network(public=False)
        tg = off.target_group(net)
        lt = off.ec2.create_launch_template(LaunchTemplateName=f"lt{time.time_ns()}", LaunchTemplateData={"ImageId": UBUNTU})["LaunchTemplate"]["LaunchTemplateId"]
        name = f"asg{time.time_ns()}"
        retry(off.autoscaling.create_auto_scaling_group, {"ValidationError"}, AutoScalingGroupName=name, MinSize=0, MaxSize=2, DesiredCapacity=2,
              VPCZoneIdentifier=net["subnets"][0], LaunchTemplate={"LaunchTemplateId": lt}, TargetGroupARNs=[tg])  # the target group, not found at first
        off.autoscaling.put_lifecycle_hook(AutoScalingGroupName=name, LifecycleHookName="drain", LifecycleTransition=TERMINATING, HeartbeatTimeout=300)
        instance = off.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]["Instances"][0]["InstanceId"]
        off.autoscaling.terminate_instance_in_auto_scaling_group(InstanceId=instance, ShouldDecrementDesiredCapacity=True)
        left = [i["InstanceId"] for i in off.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]["Instances"]]
        self.assertNotIn(instance, left)
        health = client("elbv2", MOTO).describe_target_health(TargetGroupArn=tg, Targets=[{"Id": instance}])["TargetHealthDescriptions"]
        self.assertEqual(health[0]["TargetHealth"]["State"], "healthy")  # terminated, and healthy for ever


class ScalingActivity(ScalingCase):
    def test_changes_wait_for_the_activity_in_progress(self):
        name = self.group(desired=1)
        code, message, status = refusal(self.asg.set_desired_capacity, AutoScalingGroupName=name, DesiredCapacity=2)
        self.assertEqual((code, status), ("ScalingActivityInProgress", 400))
        activities = self.asg.describe_scaling_activities(AutoScalingGroupName=name)["Activities"]
        self.assertEqual([a["StatusCode"] for a in activities], ["InProgress"])
        self.assertEqual(message, f"Scaling activity {activities[0]['ActivityId']} is in progress and blocks this action")
        instance = list(self.states(name))[0]
        self.assertEqual(refusal(self.asg.terminate_instance_in_auto_scaling_group, InstanceId=instance, ShouldDecrementDesiredCapacity=False)[0], "ScalingActivityInProgress")
        self.assertEqual(refusal(self.asg.update_auto_scaling_group, AutoScalingGroupName=name, MaxSize=3)[0], "ScalingActivityInProgress")
        self.assertEqual(refusal(self.asg.delete_auto_scaling_group, AutoScalingGroupName=name, ForceDelete=True)[:2],
                         ("ScalingActivityInProgress", "You cannot delete an AutoScalingGroup while there are scaling activities in progress for that group."))
        self.bit("scaling-activity", 4)
        # What does not change its sizes gets through at once; the rest once the activity is over.
        self.assertIsNone(refusal(self.asg.update_auto_scaling_group, AutoScalingGroupName=name, HealthCheckGracePeriod=60, MaxSize=4))
        _, attempts = retry(self.asg.set_desired_capacity, BUSY, AutoScalingGroupName=name, DesiredCapacity=2)
        self.assertGreater(attempts, 1)
        self.assertEqual([a["StatusCode"] for a in self.asg.describe_scaling_activities(AutoScalingGroupName=name)["Activities"]], ["InProgress", "Successful"])
        self.settled(self.asg.delete_auto_scaling_group, AutoScalingGroupName=name, ForceDelete=True)

    def test_moto_alone_keeps_no_activities(self):
        off = Cloud(OFF)
        net = off.network(public=False)
        lt = off.ec2.create_launch_template(LaunchTemplateName=f"lt{time.time_ns()}", LaunchTemplateData={"ImageId": UBUNTU})["LaunchTemplate"]["LaunchTemplateId"]
        name = f"asg{time.time_ns()}"
        off.autoscaling.create_auto_scaling_group(AutoScalingGroupName=name, MinSize=0, MaxSize=2, DesiredCapacity=1, VPCZoneIdentifier=net["subnets"][0],
                                                  LaunchTemplate={"LaunchTemplateId": lt})
        self.assertIsNone(refusal(off.autoscaling.set_desired_capacity, AutoScalingGroupName=name, DesiredCapacity=2))
        self.assertEqual(off.autoscaling.describe_scaling_activities(AutoScalingGroupName=name)["Activities"], [])


def launch_spec(heartbeat_s=3600, default="ABANDON", hook="ready"):
    """CreateAutoScalingGroup's LifecycleHookSpecificationList with one launch hook."""
    return [{"LifecycleHookName": hook, "LifecycleTransition": LAUNCHING, "HeartbeatTimeout": heartbeat_s, "DefaultResult": default}]


class LaunchHook(ScalingCase):
    READY = "ready"

    def test_a_new_instance_waits_out_of_service_until_its_node_is_ready(self):
        tg = self.target_group()
        name = self.group(desired=1, tg=tg, LifecycleHookSpecificationList=launch_spec())
        hooks = self.asg.describe_lifecycle_hooks(AutoScalingGroupName=name)["LifecycleHooks"]
        self.assertEqual([(h["LifecycleHookName"], h["HeartbeatTimeout"], h["DefaultResult"]) for h in hooks], [(self.READY, 3600, "ABANDON")])
        instance = list(self.states(name))[0]
        self.assertEqual(self.states(name)[instance], "Pending")  # the clocks' Pending first
        wait_for(lambda: self.states(name)[instance] == "Pending:Wait")
        self.assertEqual(self.instance_state(instance), "Pending:Wait")
        self.assertEqual(self.health(tg), {})  # not registered
        self.assertEqual(self.health(tg, instance)[instance], "unused")
        self.bit("launch-hook")
        # The node completes its action by itself (--node-ready-s): InService, registered, then healthy.
        wait_for(lambda: self.states(name)[instance] == "InService")
        self.assertEqual(self.health(tg), {instance: "initial"})
        wait_for(lambda: self.health(tg) == {instance: "healthy"})
        self.assertEqual(refusal(self.complete, name=name, instance=instance, hook=self.READY)[0], "ValidationError")

    def test_a_node_that_never_boots_is_abandoned_and_replaced(self):
        name = self.group(desired=1, image=NOBLE)
        self.hook(name, transition=LAUNCHING, heartbeat_s=3600, default="ABANDON", hook=self.READY)  # put after the group: later launches
        self.settled(self.asg.set_desired_capacity, AutoScalingGroupName=name, DesiredCapacity=2)
        first = [i for i, s in self.states(name).items() if s != "InService"][0]
        wait_for(lambda: first not in self.states(name) or self.states(name)[first].startswith("Terminating"))
        wait_for(lambda: len(self.states(name)) >= 2 and any(s.startswith("Pending") for s in self.states(name).values()))
        failed = [a for a in self.asg.describe_scaling_activities(AutoScalingGroupName=name)["Activities"] if a["StatusCode"] == "Cancelled"]
        self.assertEqual(failed[-1]["Description"], f"Launching a new EC2 instance: {first}")

    def test_moto_alone_ignores_the_hooks(self):
        moto = Cloud(MOTO)
        net = moto.network(public=False)
        lt = moto.ec2.create_launch_template(LaunchTemplateName=f"lt{time.time_ns()}", LaunchTemplateData={"ImageId": UBUNTU})["LaunchTemplate"]["LaunchTemplateId"]
        name = f"asg{time.time_ns()}"
        moto.autoscaling.create_auto_scaling_group(AutoScalingGroupName=name, MinSize=0, MaxSize=2, DesiredCapacity=1, VPCZoneIdentifier=net["subnets"][0],
                                                   LaunchTemplate={"LaunchTemplateId": lt}, LifecycleHookSpecificationList=launch_spec())
        self.assertEqual(moto.autoscaling.describe_lifecycle_hooks(AutoScalingGroupName=name)["LifecycleHooks"], [])
        moto.autoscaling.put_lifecycle_hook(AutoScalingGroupName=name, LifecycleHookName=self.READY, LifecycleTransition=LAUNCHING)
        moto.autoscaling.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=2)
        group = moto.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
        self.assertEqual({i["LifecycleState"] for i in group["Instances"]}, {"InService"})


class LaunchHookByHand(ScalingCase):
    """Nodes that take a minute to boot (--node-ready-s 60): the tests complete for them."""

    READY = "ready"

    def proxy(self):
        return SLOW

    def test_complete_continue_and_abandon_by_hand(self):
        tg = self.target_group()
        name = self.group(desired=2, tg=tg, LifecycleHookSpecificationList=launch_spec())
        kept, dropped = list(self.states(name))
        self.assertEqual(refusal(self.heartbeat, name=name, instance=kept, hook=self.READY)[0], "ValidationError")  # still Pending: no action yet
        wait_for(lambda: set(self.states(name).values()) == {"Pending:Wait"})
        self.heartbeat(name, kept, hook=self.READY)
        self.complete(name, kept, hook=self.READY)
        self.complete(name, dropped, result="ABANDON", hook=self.READY)
        states = self.states(name)
        self.assertEqual(states[kept], "InService")
        self.assertEqual(states[dropped], "Terminating:Proceed")
        replacement = [i for i in states if i not in (kept, dropped)]
        self.assertEqual(len(replacement), 1)
        self.assertEqual(self.health(tg), {kept: "initial"})
        activities = self.asg.describe_scaling_activities(AutoScalingGroupName=name)["Activities"]
        cancelled = [a for a in activities if a["StatusCode"] == "Cancelled"]
        self.assertEqual([a["Description"] for a in cancelled], [f"Launching a new EC2 instance: {dropped}"])
        self.assertIn("was abandoned with Lifecycle Action Result ABANDON", cancelled[0]["StatusMessage"])
        wait_for(lambda: self.states(name)[replacement[0]] == "Pending:Wait")
        self.assertEqual([a["StatusCode"] for a in self.asg.describe_scaling_activities(AutoScalingGroupName=name)["Activities"]
                          if a["Description"].endswith(replacement[0])], ["MidLifecycleAction"])

    def test_the_heartbeat_timeout_applies_the_default_result(self):
        name = self.group(desired=1, LifecycleHookSpecificationList=launch_spec(heartbeat_s=60, default="CONTINUE"))
        instance = list(self.states(name))[0]
        wait_for(lambda: self.states(name)[instance] == "Pending:Wait")
        wait_for(lambda: self.states(name)[instance] == "InService")


class Flags(unittest.TestCase):
    def test_help_and_rule_names(self):
        import os
        import subprocess
        import sys

        shown = subprocess.run([sys.executable, os.path.join(base.HERE, "faultproxy.py"), "--help"], capture_output=True, text=True, check=True).stdout
        for flag in ("--scale-in-warmup-s", "--alarm-period-s", "--lifecycle-scale", "--activity-s", "--node-ready-s", "--never-ready"):
            self.assertIn(flag, shown)
        from cloud import parse_rules

        self.assertEqual(parse_rules("none,scale-in,decrement,draining,activity,launch-hooks"),
                         {"idle-scale-in", "decrement-at-min", "deregistration-phase", "scaling-activity", "launch-hook"})


if __name__ == "__main__":
    unittest.main(verbosity=2)
