"""EC2's default KMS key for EBS encryption, answered from memory by the fault proxy: moto lacks it.

ADDED BECAUSE MOTO (5.2.5, pinned) LACKS IT: moto answers GetEbsDefaultKmsKeyId and
ResetEbsDefaultKmsKeyId with a bare HTML 500 (not implemented), and ModifyEbsDefaultKmsKeyId of a
key KMS does not have with the same 500; so a tool that reads the account's default key (ams-stack's
preview does, then asks KMS DescribeKey / GetKeyPolicy about it) cannot be tested against moto.
What moto does answer is left to it: GetEbsEncryptionByDefault, EnableEbsEncryptionByDefault,
DisableEbsEncryptionByDefault, and KMS (CreateKey, DescribeKey, GetKeyPolicy, aliases; it makes
the AWS managed keys such as alias/aws/ebs on first use).

The calls (EC2 query protocol, answered in EC2's XML), per (account, region) as AWS keeps them:
  GetEbsDefaultKmsKeyId     -> kmsKeyId: "alias/aws/ebs" (AWS's managed key) until modified, then the
                               ARN of the key it was modified to
  ModifyEbsDefaultKmsKeyId  KmsKeyId (key ID, key ARN, alias name or alias ARN): asked of moto's KMS
                               (boto3, straight to moto); a key it does not have, one of another region,
                               or an asymmetric one is refused, InvalidParameterValue (400). Otherwise
                               moto's own ModifyEbsDefaultKmsKeyId is called too (so the volumes moto
                               encrypts by default use the key) and the key's ARN is answered and kept.
  ResetEbsDefaultKmsKeyId   -> the ARN of the AWS managed key alias/aws/ebs; Get answers the alias again.
DryRun=true answers DryRunOperation (412), as EC2 does. POST /moto-api/reset forgets every key.
AWS's code for an unknown key is not documented (the API reference even says the key is checked
asynchronously: "if you specify an ID, alias, or ARN that is not valid, the action can appear to
complete, but eventually fails"); this emulation refuses at once with EC2's InvalidParameterValue,
so that a wrong key is seen in tests rather than hidden.
Sources: EC2 API reference, GetEbsDefaultKmsKeyId, ModifyEbsDefaultKmsKeyId, ResetEbsDefaultKmsKeyId,
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_GetEbsDefaultKmsKeyId.html (and
API_ModifyEbsDefaultKmsKeyId.html, API_ResetEbsDefaultKmsKeyId.html) ; EBS user guide, "Amazon EBS
encryption" (the AWS managed key aws/ebs is the default), https://docs.aws.amazon.com/ebs/latest/userguide/ebs-encryption.html ;
that Get answers the alias, not an ARN: hashicorp/terraform-provider-aws#15137.

As for DLM (dlm.py), a proxy in front of a proxy forwards these calls: the innermost one, in front
of moto, answers them (faultproxy.py asks the same GET /__proxy/dlm to tell).
"""

import secrets
import sys
import threading
import urllib.parse
from xml.sax.saxutils import escape

from awswire import error_body

ACTIONS = ("GetEbsDefaultKmsKeyId", "ModifyEbsDefaultKmsKeyId", "ResetEbsDefaultKmsKeyId")
AWS_EBS_KEY = "alias/aws/ebs"
DEFAULT_ACCOUNT = "123456789012"  # moto's
EC2_NS = "http://ec2.amazonaws.com/doc/2016-11-15/"


class Invalid(Exception):
    """An EC2 client error: (code, message), 400 unless said."""

    def __init__(self, code, message, status=400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def reply(action, key):
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<{action}Response xmlns="{EC2_NS}"><requestId>{secrets.token_hex(16)}</requestId>'
            f"<kmsKeyId>{escape(key)}</kmsKeyId></{action}Response>")
    return 200, {"Content-Type": "text/xml;charset=UTF-8"}, body


class EbsDefaultKey:
    """The default key per (account, region): None means AWS's managed alias/aws/ebs."""

    def __init__(self, upstream):
        self.upstream_url = upstream
        self.upstream = None  # boto3 (upstream.py), made at the first call that asks moto
        self.lock = threading.Lock()
        self.keys = {}  # (account, region) -> key ARN

    def reset(self):
        with self.lock:
            self.keys.clear()

    def answer(self, action, body, headers, region):
        """(status, headers, body) of one of ACTIONS."""
        region = region or "us-east-1"
        moto_account = headers.get("x-moto-account-id")
        params = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        try:
            if params.get("DryRun", "").lower() == "true":
                raise Invalid("DryRunOperation", "Request would have succeeded, but DryRun flag is set.", 412)
            place = (moto_account or DEFAULT_ACCOUNT, region)
            if action == "GetEbsDefaultKmsKeyId":
                with self.lock:
                    return reply(action, self.keys.get(place) or AWS_EBS_KEY)
            if action == "ResetEbsDefaultKmsKeyId":
                arn = self.moto_modify(AWS_EBS_KEY, region, moto_account)
                with self.lock:
                    self.keys.pop(place, None)
                return reply(action, arn)
            key = params.get("KmsKeyId")
            if not key:
                raise Invalid("MissingParameter", "The request must contain the parameter KmsKeyId")
            metadata = self.describe_key(key, region, moto_account)
            if metadata.get("KeySpec", "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT":
                raise Invalid("InvalidParameterValue", f"Value ({key}) for parameter KmsKeyId is invalid. Amazon EBS does not support asymmetric KMS keys.")
            arn = self.moto_modify(metadata["Arn"], region, moto_account)
            managed = self.describe_key(AWS_EBS_KEY, region, moto_account)["Arn"]
            with self.lock:
                if arn == managed:
                    self.keys.pop(place, None)  # the managed key itself: the default again
                else:
                    self.keys[place] = arn
            return reply(action, arn)
        except Invalid as e:
            return error_body("ec2", e.code, e.message, e.status)
        except Exception as e:  # noqa: BLE001 - a bug here answers 500 and says so, as AWS would
            print(f"faultproxy: ebs default key {action} failed: {e!r}", file=sys.stderr, flush=True)
            return error_body("ec2", "InternalError", f"the proxy's EBS default key failed: {e!r}", 500)

    # ---- asking moto -------------------------------------------------------------------------------
    def client(self, service, region, moto_account):
        if self.upstream is None:
            from upstream import Upstream  # boto3: only once moto is asked

            with self.lock:
                self.upstream = self.upstream or Upstream(self.upstream_url)
        return self.upstream.client(service, region, moto_account)

    def describe_key(self, key, region, moto_account):
        """KMS's KeyMetadata of the key in this region (an ARN of another region is not found here)."""
        from botocore.exceptions import ClientError

        if key.startswith("arn:") and key.split(":")[3:4] != [region]:
            raise Invalid("InvalidParameterValue", f"Value ({key}) for parameter KmsKeyId is invalid. The KMS key must be in the same Region ({region}).")
        try:
            return self.client("kms", region, moto_account).describe_key(KeyId=key)["KeyMetadata"]
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("NotFoundException", "InvalidArnException", "ValidationException"):
                raise Invalid("InvalidParameterValue", f"Value ({key}) for parameter KmsKeyId is invalid. The KMS key does not exist.") from e
            raise

    def moto_modify(self, key, region, moto_account):
        """moto's own ModifyEbsDefaultKmsKeyId (with a key it has): what it encrypts volumes with by default."""
        return self.client("ec2", region, moto_account).modify_ebs_default_kms_key_id(KmsKeyId=key)["KmsKeyId"]
