"""moto in server mode (what `moto_server` runs), with one repair ams-stack's tests depend on.

moto 5.2.5 keeps the user data of a launch template version made by CreateLaunchTemplateVersion
as the caller's plain text, while CreateLaunchTemplate wraps it in its Base64EncodedString; an
auto-scaling group launching from such a version then fails an assertion (HTTP 500). Real AWS
launches from any version. The repair wraps the text the first time a version's user data is
read, as CreateLaunchTemplate does at once. Nothing else changes.

    .venv/bin/python scripts/emulator/moto_server.py -H 127.0.0.1 -p PORT
"""

import sys

from moto.core.types import Base64EncodedString
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

if __name__ == "__main__":
    sys.exit(main())
