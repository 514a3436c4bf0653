"""moto in server mode (what `moto_server` runs), with seven repairs ams-stack's tests depend on.

1. moto 5.2.5 keeps the user data of a launch template version made by CreateLaunchTemplateVersion
as the caller's plain text, while CreateLaunchTemplate wraps it in its Base64EncodedString; an
auto-scaling group launching from such a version then fails an assertion (HTTP 500). Real AWS
launches from any version. The repair wraps the text the first time a version's user data is
read, as CreateLaunchTemplate does at once.

2. moto 5.2.5 launches an auto-scaling group's instances ignoring its launch template's network
interface (DeviceIndex 0: AssociatePublicIpAddress, Groups) and its Monitoring: the instances get
no public address, no security group and basic monitoring. Real AWS launches them as the template
says (the security groups of a template with a network interface can only be in it). The repair
reads those from the template when the launch names no interface of its own.

3. moto's list of ELB security policies (which ModifyListener checks names against) predates the
FIPS ones, the RFC 9151 (CNSA) ones and four of the forward-secrecy ones; AWS has them
(describe-ssl-policies), ams-stack's default TLS policy is one, and a stack file may name any.
The repair adds every policy of crates/aws/src/elbv2/tls.rs that moto lacks, with the TLS
versions its name says and AES-GCM ciphers (AES-256 only for RFC 9151; the ECDHE suites of
moto's own lists for forward secrecy). Nothing else changes.

4. moto's server answers requests on several threads, and its S3 conditional writes (PutObject
with If-None-Match, PutObject or DeleteObject with If-Match) check the condition, then write: two
at once can both pass. S3 makes each atomic, and the S3 state lock relies on that (of two runs
taking over one stale lock, exactly one must win). The repair makes every S3 object write and
delete one at a time.

5. moto 5.2.5 refuses a target group's deregistration_delay.timeout_seconds of 3600 (it checks
`range(0, 3600)`, which stops at 3599), while its own message, and AWS, say "between 0-3600
inclusive" (ELB user guide, target group attributes: 0 to 3600 seconds). ams-stack sets 3600 for
a stack that drains for an hour or more. The repair takes 3600 as AWS does; every other value is
checked by moto as before.

6. moto 5.2.5 does not implement MonitorInstances nor UnmonitorInstances (NotImplementedError,
answered with an empty body). AWS turns an instance's detailed monitoring on or off in place
(EC2 API reference: MonitorInstances answers each instance with its monitoring state `pending`,
UnmonitorInstances with `disabling`). ams-stack turns it on for a MongoDB instance made without
it (one adopted from a hand-made cluster). The repair sets the instance's state, `enabled` or
`disabled`, and answers as AWS does; an unknown instance is refused as moto refuses it elsewhere.

7. moto's Route 53 applies a change batch by rebuilding the zone's list of record sets
(`self.rrsets = [... if not deleted]`), on whichever of its threads the request came in: two
batches at once can each rebuild from the list as it was, and the second puts back what the
first deleted (a delete answered as done, and the record still there). Route 53 applies each
change batch atomically, one after another per zone (API reference, ChangeResourceRecordSets: a
batch is all or nothing; GetChange reports it INSYNC as one). Found by a SIGKILL test whose
destroy, deleting three records at once, left one. The repair applies the batches one at a time.

    .venv/bin/python scripts/emulator/moto_server.py -H 127.0.0.1 -p PORT
"""

import sys
import threading

from moto.core.responses import ActionResult
from moto.core.types import Base64EncodedString
from moto.ec2.responses.monitoring import Monitoring
from moto.ec2.models.instances import InstanceBackend
from moto.ec2.models.launch_templates import LaunchTemplateVersion
from moto.ec2.utils import parse_user_data
from moto.elbv2.models import ELBv2Backend
from moto.elbv2.ssl_policies import SSL_POLICIES
from moto.route53.models import Route53Backend
from moto.s3.responses import S3Response
from moto.server import main


def _user_data(version):
    data = version.data.get("UserData")
    if data is not None and not isinstance(data, Base64EncodedString):
        data = parse_user_data(data)
        version.data["UserData"] = data
    return data


LaunchTemplateVersion.user_data = property(_user_data)


def _true(value):
    return str(value).lower() == "true"


_run_instances = InstanceBackend.run_instances


def _run_instances_as_template_says(self, image_id, count, user_data, security_group_names, **kwargs):
    template = kwargs.get("launch_template")
    if template and not kwargs.get("nics"):
        data = self._get_template_from_args(template).data
        for nic in data.get("NetworkInterfaces") or []:
            if str(nic.get("DeviceIndex", "0")) != "0":
                continue
            if nic.get("AssociatePublicIpAddress") is not None and kwargs.get("associate_public_ip") is None:
                kwargs["associate_public_ip"] = _true(nic["AssociatePublicIpAddress"])
            groups = nic.get("Groups") or nic.get("SecurityGroupId") or []
            if groups and not kwargs.get("security_group_ids"):
                kwargs["security_group_ids"] = groups if isinstance(groups, list) else [groups]
        if _true((data.get("Monitoring") or {}).get("Enabled")):
            kwargs.setdefault("monitoring_state", "enabled")
    return _run_instances(self, image_id, count, user_data, security_group_names, **kwargs)


InstanceBackend.run_instances = _run_instances_as_template_says
_TLS_VERSIONS = ["TLSv1.3", "TLSv1.2", "TLSv1.1", "TLSv1"]
# (TLS 1.3 ciphers, TLS 1.2 and older ciphers) of each kind of policy; forward secrecy has no TLS 1.3.
_FIPS = (["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384"],
         ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
          "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384"])
_CNSA = tuple([c for c in ciphers if "AES_256" in c or "AES256" in c] for ciphers in _FIPS)
_FS = ([], [c for c in SSL_POLICIES["ELBSecurityPolicy-TLS13-1-0-2021-06"]["ciphers"] if c.startswith("ECDHE-")])
_FS_RES = ([], [c for c in _FS[1] if not c.endswith("-SHA")])
# Each policy moto lacks (after "ELBSecurityPolicy-"), the oldest TLS version it takes, its ciphers.
_MISSING_TLS_POLICIES = [
    ("TLS13-1-3-FIPS-PQ-2025-09", "TLSv1.3", _FIPS),
    ("TLS13-1-2-FIPS-PQ-2025-09", "TLSv1.2", _FIPS),
    ("TLS13-1-2-Res-FIPS-PQ-2025-09", "TLSv1.2", _FIPS),
    ("TLS13-1-2-Ext0-FIPS-PQ-2025-09", "TLSv1.2", _FIPS),
    ("TLS13-1-2-Ext1-FIPS-PQ-2025-09", "TLSv1.2", _FIPS),
    ("TLS13-1-2-Ext2-FIPS-PQ-2025-09", "TLSv1.2", _FIPS),
    ("TLS13-1-0-FIPS-PQ-2025-09", "TLSv1", _FIPS),
    ("TLS13-1-3-FIPS-2023-04", "TLSv1.3", _FIPS),
    ("TLS13-1-2-FIPS-2023-04", "TLSv1.2", _FIPS),
    ("TLS13-1-2-Res-FIPS-2023-04", "TLSv1.2", _FIPS),
    ("TLS13-1-2-Ext0-FIPS-2023-04", "TLSv1.2", _FIPS),
    ("TLS13-1-2-Ext1-FIPS-2023-04", "TLSv1.2", _FIPS),
    ("TLS13-1-2-Ext2-FIPS-2023-04", "TLSv1.2", _FIPS),
    ("TLS13-1-1-FIPS-2023-04", "TLSv1.1", _FIPS),
    ("TLS13-1-0-FIPS-2023-04", "TLSv1", _FIPS),
    ("TLS13-1-3-RFC9151-FIPS-2023-07", "TLSv1.3", _CNSA),
    ("TLS13-1-2-RFC9151-FIPS-2023-07", "TLSv1.2", _CNSA),
    ("TLS13-1-2-Ext0-RFC9151-FIPS-2023-07", "TLSv1.2", _CNSA),
    ("TLS13-1-2-RFC9151-INTEROP1-FIPS-2023-07", "TLSv1.2", _CNSA),
    ("TLS13-1-2-RFC9151-INTEROP2-FIPS-2023-07", "TLSv1.2", _CNSA),
    ("TLS13-1-2-RFC9151-INTEROP3-FIPS-2023-07", "TLSv1.2", _CNSA),
    ("TLS13-1-2-RFC9151-INTEROP4-FIPS-2023-07", "TLSv1.2", _CNSA),
    ("FS-1-2-Res-2019-08", "TLSv1.2", _FS_RES),
    ("FS-1-2-2019-08", "TLSv1.2", _FS),
    ("FS-1-1-2019-08", "TLSv1.1", _FS),
    ("FS-2018-06", "TLSv1", _FS),
]
for _suffix, _oldest, (_tls13, _older) in _MISSING_TLS_POLICIES:
    _name = f"ELBSecurityPolicy-{_suffix}"
    _versions = _TLS_VERSIONS[(0 if _tls13 else 1):_TLS_VERSIONS.index(_oldest) + 1]
    SSL_POLICIES.setdefault(_name, {
        "name": _name,
        "ciphers": _tls13 + (_older if _oldest != "TLSv1.3" else []),
        "ssl_protocols": _versions,
    })

_S3_WRITES = threading.Lock()


def _one_at_a_time(write):
    def locked(self):
        with _S3_WRITES:
            return write(self)
    return locked


S3Response.put_object = _one_at_a_time(S3Response.put_object)
S3Response.delete_object = _one_at_a_time(S3Response.delete_object)

_DELAY = "deregistration_delay.timeout_seconds"
_modify_target_group_attributes = ELBv2Backend.modify_target_group_attributes


def _delay_up_to_3600_inclusive(self, target_group_arn, attributes):
    delay = attributes.get(_DELAY)
    if delay is None or str(delay).strip() != "3600":
        return _modify_target_group_attributes(self, target_group_arn, attributes)
    # The other attributes checked by moto as ever; then 3600, which AWS takes, kept as given.
    _modify_target_group_attributes(self, target_group_arn, {k: v for k, v in attributes.items() if k != _DELAY})
    self.target_groups[target_group_arn].attributes[_DELAY] = delay


ELBv2Backend.modify_target_group_attributes = _delay_up_to_3600_inclusive


def _set_monitoring(state, answer):
    def action(self):
        ids = self._get_param("InstanceIds", [])
        self.error_on_dryrun()
        monitorings = []
        for instance in self.ec2_backend.get_multi_instances_by_id(ids):
            instance.monitoring_state = state
            monitorings.append({"InstanceId": instance.id, "Monitoring": {"State": answer}})
        return ActionResult({"InstanceMonitorings": monitorings})
    return action


Monitoring.monitor_instances = _set_monitoring("enabled", "pending")
Monitoring.unmonitor_instances = _set_monitoring("disabled", "disabling")

_ROUTE53_CHANGES = threading.Lock()
_change_resource_record_sets = Route53Backend.change_resource_record_sets


def _one_batch_at_a_time(self, zoneid, change_list):
    with _ROUTE53_CHANGES:
        return _change_resource_record_sets(self, zoneid, change_list)


Route53Backend.change_resource_record_sets = _one_batch_at_a_time

if __name__ == "__main__":
    sys.exit(main())
