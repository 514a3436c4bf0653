"""moto in server mode (what `moto_server` runs), with two repairs ams-stack's tests depend on.

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

Nothing else changes.

    .venv/bin/python scripts/emulator/moto_server.py -H 127.0.0.1 -p PORT
"""

import sys

from moto.core.types import Base64EncodedString
from moto.ec2.models.instances import InstanceBackend
from moto.ec2.models.launch_templates import LaunchTemplateVersion
from moto.ec2.utils import parse_user_data
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

if __name__ == "__main__":
    sys.exit(main())
