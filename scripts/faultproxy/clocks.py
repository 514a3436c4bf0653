"""Rule "clocks" (and the display side of "lingering-enis" and "marketplace-opt-in"): AWS's timings,
scaled down, written into moto's answers as they pass.

moto is ready at once; AWS is not. Each duration is its own flag (faultproxy.py --help):
  load balancer  provisioning -> active            DescribeLoadBalancers
  instance       pending -> running                DescribeInstances
  target         initial -> healthy                DescribeTargetHealth
  group instance Pending -> InService              DescribeAutoScalingGroups / DescribeAutoScalingInstances
  certificate    PENDING_VALIDATION -> ISSUED      DescribeCertificate / ListCertificates (moto itself already
                                                   waits MOTO_ACM_VALIDATION_WAIT seconds; this adds to it)
Sources: ELBv2 LoadBalancerState, https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_LoadBalancerState.html ;
EC2 instance lifecycle, https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-instance-lifecycle.html ;
target health states, https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html ;
Auto Scaling lifecycle, https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-lifecycle.html ;
ACM DNS validation, https://docs.aws.amazon.com/acm/latest/userguide/dns-validation.html
Also: instances of an image named by --never-healthy stay unhealthy in every target group (a node
that never serves, to test what waits on health); a TerminateInstances'd instance is reported shutting-down while its network interfaces linger
(lingering-enis); a group that cannot launch a Marketplace image shows the sizes asked for and a
failed scaling activity (marketplace-opt-in).
"""

import datetime
import functools
import hashlib
import json
import xml.etree.ElementTree as ET

from awswire import child, child_text, edit_xml, find_all, set_child

STATE_CODES = {"pending": "0", "running": "16", "shutting-down": "32", "terminated": "48", "stopping": "64", "stopped": "80"}


def needs(rule):
    """For a rewrite method: moto's answer goes through untouched while rule is off."""

    def wrap(rewrite):
        @functools.wraps(rewrite)
        def checked(self, call, data):
            return rewrite(self, call, data) if self.on(rule) else data

        return checked

    return wrap


def edit_members(data, list_name, edit):
    """Rewrite an XML answer: edit(member) runs on each member of every list_name list and says whether it changed it."""
    return edit_xml(data, lambda root: any([edit(member) for members in find_all(root, list_name) for member in list(members)]))


class Clocks:
    def __init__(self, cloud):
        self.cloud = cloud
        self.t = cloud.t

    def on(self, rule):
        return rule in self.cloud.on

    def since(self, kind, key):
        with self.cloud.lock:
            return self.cloud.born.get((kind, key))

    def within(self, start, seconds):
        return start is not None and self.cloud.now() < start + seconds

    # ---- states --------------------------------------------------------------------------------------
    def instance_state(self, instance, moto_state):
        if moto_state == "terminated":
            with self.cloud.lock:
                held = self.cloud.shutting.get(instance)
            if held and self.cloud.now() < held.get("running_until", 0):
                return "running"  # leaving its auto-scaling group: runs until Terminating:Proceed (scaling.py)
            if held and self.on("lingering-enis") and self.cloud.now() < held["until"]:
                return "shutting-down"
        if moto_state == "running" and self.on("clocks") and self.within(self.since("instance", instance), self.t.instance_pending):
            return "pending"
        return moto_state

    def certificate_status(self, arn, moto_status):
        if moto_status == "ISSUED" and self.on("clocks") and self.within(self.since("cert", arn), self.t.cert_pending):
            return "PENDING_VALIDATION"
        if moto_status == "ISSUED":
            with self.cloud.lock:
                self.cloud.cert_issued.setdefault(arn, self.cloud.now())
        return moto_status

    def widen_state_filter(self, call):
        """An instance-state-name filter asks moto for the states it may hold for ours, then filters again."""
        if not (self.on("clocks") or self.on("lingering-enis") or self.on("deregistration-phase")):
            return
        for index, (name, values) in call.filters().items():
            if name != "instance-state-name":
                continue
            call.memo["state_filter"] = set(values)
            ours_in_moto = (("pending", "running"), ("shutting-down", "terminated"), ("running", "terminated"))
            extra = list(dict.fromkeys(moto for ours, moto in ours_in_moto if ours in values and moto not in values))
            for n, value in enumerate(extra, start=len(values) + 1):
                call.query.append((f"Filter.{index}.Value.{n}", value))
            if extra:
                call.body = call.encoded()

    def widen_certificate_filter(self, call):
        """ListCertificates(CertificateStatuses=[PENDING_VALIDATION]) must also get what moto already issued."""
        wanted = call.data.get("CertificateStatuses")
        if self.on("clocks") and wanted and "PENDING_VALIDATION" in wanted and "ISSUED" not in wanted:
            call.memo["cert_filter"] = set(wanted)
            call.body = json.dumps({**call.data, "CertificateStatuses": list(wanted) + ["ISSUED"]}).encode()

    # ---- rewriting answers ---------------------------------------------------------------------------
    def rewrite(self, call, data):
        method = {
            ("ec2", "DescribeInstances"): self.instances,
            ("elasticloadbalancing", "DescribeLoadBalancers"): self.load_balancers,
            ("elasticloadbalancing", "DescribeTargetHealth"): self.target_health,
            ("autoscaling", "DescribeAutoScalingGroups"): self.groups,
            ("autoscaling", "DescribeAutoScalingInstances"): self.group_instances,
            ("autoscaling", "DescribeScalingActivities"): self.activities,
            ("acm", "DescribeCertificate"): self.certificate,
            ("acm", "ListCertificates"): self.certificates,
            # Rule volume-modification (creating.py): modifying -> optimizing -> completed.
            ("ec2", "ModifyVolume"): self.cloud.volume_modification_answer,
            ("ec2", "DescribeVolumesModifications"): self.cloud.volume_modifications_answer,
        }.get((call.service, call.action))
        return method(call, data) if method else data

    def instances(self, call, data):
        wanted = call.memo.get("state_filter")

        def edit(root):
            changed = False
            for reservations in find_all(root, "reservationSet"):
                for reservation in list(reservations):
                    items = child(reservation, "instancesSet")
                    if items is None:
                        continue
                    for item in list(items):
                        state = child(item, "instanceState")
                        moto = child_text(state, "name") if state is not None else None
                        ours = self.instance_state(child_text(item, "instanceId"), moto)
                        if ours != moto:
                            set_child(state, "code", STATE_CODES[ours])
                            set_child(state, "name", ours)
                            changed = True
                        if wanted is not None and ours not in wanted:
                            items.remove(item)
                            changed = True
                    if len(items) == 0:
                        reservations.remove(reservation)
                        changed = True
            return changed

        return edit_xml(data, edit)

    @needs("clocks")
    def load_balancers(self, call, data):
        def edit(lb):
            state = child(lb, "State")
            if state is None or child_text(state, "Code") != "active" or not self.within(self.since("lb", child_text(lb, "LoadBalancerArn")), self.t.lb_provisioning):
                return False
            set_child(state, "Code", "provisioning")
            return True

        return edit_members(data, "LoadBalancers", edit)

    @needs("clocks")
    def target_health(self, call, data):
        group = call.get("TargetGroupArn")

        def edit(description):
            target, health = child(description, "Target"), child(description, "TargetHealth")
            if target is None or health is None or child_text(health, "State") != "healthy":
                return False
            instance = child_text(target, "Id")
            if self.cloud.never_healthy and self.cloud.image_of(call, instance) in self.cloud.never_healthy:
                set_child(health, "State", "unhealthy")
                set_child(health, "Reason", "Target.ResponseCodeMismatch")
                set_child(health, "Description", "Health checks failed with these codes: [404]")
                return True
            with self.cloud.lock:
                starts = [s for s in (self.cloud.targets.get((group, instance)), self.cloud.born.get(("instance", instance))) if s is not None]
            if not (starts and self.within(max(starts), self.t.target_initial)):
                return False
            set_child(health, "State", "initial")
            set_child(health, "Reason", "Elb.RegistrationInProgress")
            set_child(health, "Description", "Target registration is in progress")
            return True

        return edit_members(data, "TargetHealthDescriptions", edit)

    def pending_member(self, member):
        """An auto-scaling group's instance still Pending while young; True if it changed it."""
        if child_text(member, "LifecycleState") != "InService" or not self.within(self.since("asg", child_text(member, "InstanceId")), self.t.asg_pending):
            return False
        set_child(member, "LifecycleState", "Pending")
        return True

    def groups(self, call, data):
        def edit(group):
            changed = False
            with self.cloud.lock:
                starved = self.cloud.starved.get(child_text(group, "AutoScalingGroupName"))
            if starved and self.on("marketplace-opt-in"):
                for param, value in starved["sizes"].items():
                    set_child(group, param, value)
                changed = True
            instances = child(group, "Instances")
            if instances is not None and self.on("clocks"):
                changed = any([self.pending_member(member) for member in instances]) or changed
            return changed

        return edit_members(data, "AutoScalingGroups", edit)

    @needs("clocks")
    def group_instances(self, call, data):
        return edit_members(data, "AutoScalingInstances", self.pending_member)

    @needs("marketplace-opt-in")
    def activities(self, call, data):
        """moto keeps no scaling activities; a group starved of its Marketplace image gets a failed one."""
        asked = set(call.values("AutoScalingGroupName") or ([call.get("AutoScalingGroupName")] if call.get("AutoScalingGroupName") else []))
        with self.cloud.lock:
            starved = {name: dict(s) for name, s in self.cloud.starved.items() if (not asked or name in asked)}

        def edit(root):
            lists = find_all(root, "Activities")
            if not lists:
                return False
            ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
            changed = False
            for name, s in sorted(starved.items()):
                desired = int(s["sizes"].get("DesiredCapacity") or s["sizes"].get("MinSize") or 0)
                if desired <= 0:
                    continue
                at = datetime.datetime.fromtimestamp(s["since"], datetime.timezone.utc)
                stamp = at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
                digest = hashlib.sha256(f"{name}|{s['since']}".encode()).hexdigest()
                member = ET.SubElement(lists[0], ns + "member")
                for field, value in (
                    ("ActivityId", f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"),
                    ("AutoScalingGroupName", name),
                    ("Description", f"Launching a new EC2 instance.  Status Reason: {s['message']}. Launching EC2 instance failed."),
                    ("Cause", f"At {stamp} an instance was started in response to a difference between desired and actual capacity, increasing the capacity from 0 to {desired}."),
                    ("StartTime", stamp),
                    ("EndTime", stamp),
                    ("StatusCode", "Failed"),
                    ("StatusMessage", f"{s['message']}. Launching EC2 instance failed."),
                    ("Progress", "100"),
                    ("Details", "{}"),
                ):
                    ET.SubElement(member, ns + field).text = value
                changed = True
            return changed

        return edit_xml(data, edit)

    def certificate(self, call, data):
        try:
            parsed = json.loads(data)
        except ValueError:
            return data
        cert = parsed.get("Certificate", {})
        ours = self.certificate_status(cert.get("CertificateArn"), cert.get("Status"))
        if ours == cert.get("Status"):
            return data
        cert["Status"] = ours
        cert.pop("IssuedAt", None)
        for option in cert.get("DomainValidationOptions", []):
            option["ValidationStatus"] = "PENDING_VALIDATION"
        return json.dumps(parsed).encode()

    def certificates(self, call, data):
        try:
            parsed = json.loads(data)
        except ValueError:
            return data
        wanted = set(call.memo.get("cert_filter") or call.data.get("CertificateStatuses") or [])
        changed = False
        kept = []
        for summary in parsed.get("CertificateSummaryList", []):
            ours = self.certificate_status(summary.get("CertificateArn"), summary.get("Status"))
            if ours != summary.get("Status"):
                summary["Status"] = ours
                summary.pop("IssuedAt", None)
                changed = True
            if wanted and ours not in wanted:
                changed = True
                continue
            kept.append(summary)
        if not changed:
            return data
        parsed["CertificateSummaryList"] = kept
        return json.dumps(parsed).encode()
