"""A fault-injecting reverse proxy in front of moto, for ams-stack's reliability tests.

Deterministic by seed: a request's fate is drawn from sha256(seed | key | n), where key is the
service, the operation and its parameters (without signatures and idempotency tokens) and n counts
how often that key was seen, so a retry gets a fresh draw. Errors are written in each protocol's
own format (EC2, the query services, Route 53's REST XML, the JSON services, S3), because the SDK
only retries what it can parse.

  faultproxy.py --listen PORT --upstream URL [--delay-ms N] [--jitter-ms N]
                [--throttle F] [--e500 F] [--e503 F] [--after F] [--after-only PREFIXES]
                [--seed S] [--strict] [--counts FILE]
                [--cloud strict [--rules SPEC] [--not-subscribed LIST] [--never-healthy LIST] [--linger-s S] ...]

--after F: forward the call, then answer 503 anyway (the call took effect, the client does not
know). --after-only Create,Run,...: limit --after to operations with these prefixes.
--then-refuse CODE: a call sent again after --after took its answer is refused with CODE (400), as
AWS refuses a second make of what the first one made, under a code the client may not expect.
--strict: refuse deletes in an order AWS refuses (moto allows them): a security group in use, a
subnet with instances or a load balancer, a VPC with groups or an attached gateway, a group with
instances. GET /__proxy/counts returns the calls by operation; --counts writes them on exit.
--cloud strict: a "strict cloud" that also enforces the AWS rules moto forgives, each with its source
in the code (cloud.py, creating.py, deleting.py, scaling.py, clocks.py) and each switchable with --rules
(default all; "-route53,-clocks" = all but those; "none,igw-before-lb" = only that one):
  delete-order, igw-before-lb, mapped-public-addresses, lingering-enis, certificate-in-use,
  eventual-consistency, route53, marketplace-opt-in, clocks.
Refusals are counted as "refused:RULE" in /__proxy/counts ("injected:strict" for delete-order, as
before); GET /__proxy/rules returns {rule: refusals}. Durations in seconds, see --help.
DLM (Data Lifecycle Manager), which moto lacks, is answered from memory by dlm.py in every mode,
faults included: it stores policies and takes no snapshots. Without fault or cloud flags the proxy
only forwards (and answers DLM): scripts/emulator.sh and the tests put it in front of every moto.
In front of such a proxy (GET /__proxy/dlm says so), a proxy forwards DLM calls like any other.
So with EC2's default EBS key (GetEbsDefaultKmsKeyId, ModifyEbsDefaultKmsKeyId,
ResetEbsDefaultKmsKeyId), which moto lacks too: answered from memory by ebsdefault.py.
Standard library only, plus boto3 (which moto brings) for --strict, --cloud strict and DLM's roles.
"""

import argparse
import hashlib
import http.client
import json
import random
import signal
import sys
import threading
import time
import types
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from awswire import Answered, Call, Refused, error_body, scope_of
from cloud import RULES
from dlm import Dlm
from dlm import operation as dlm_operation
from ebsdefault import ACTIONS as EBS_DEFAULT_ACTIONS
from ebsdefault import EbsDefaultKey

TOKENS = {"ClientToken", "IdempotencyToken", "CallerReference", "X-Amz-Date", "Signature"}
STATE = {"seen": {}, "counts": {}, "lost": set(), "lock": threading.Lock()}


def service_of(headers):
    return scope_of(headers)[1]


def operation_of(service, method, path, headers, body):
    target = headers.get("X-Amz-Target")
    if target:
        return target.split(".")[-1], body.decode("utf-8", "replace")
    if service in ("ec2", "autoscaling", "elasticloadbalancing", "iam", "sts"):
        params = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        params.update(urllib.parse.parse_qs(urllib.parse.urlparse(path).query))
        action = params.get("Action", ["Unknown"])[0]
        kept = sorted((k, v) for k, v in params.items() if k not in TOKENS and not k.endswith("ClientToken"))
        return action, json.dumps(kept)
    if service == "dlm":
        return dlm_operation(method, path) or f"{method} dlm", path + body.decode("utf-8", "replace")
    if service == "route53":
        shape = "/".join(p if not p.startswith(("Z", "C")) else "{id}" for p in urllib.parse.urlparse(path).path.split("/"))
        return f"{method} {shape}", body.decode("utf-8", "replace")
    return f"{method} {service}", path + body.decode("utf-8", "replace")


def error(service, kind, status):
    """(status, headers, body) of an injected error in the service's own protocol."""
    code = {
        "throttle": {"ec2": "RequestLimitExceeded", "s3": "SlowDown"}.get(service, "Throttling"),
        "e500": "InternalError" if service in ("ec2", "s3") else "InternalFailure",
        "e503": "ServiceUnavailable",
    }[kind]
    if service in ("acm", "ssm") and kind == "throttle":
        code = "ThrottlingException"
    # DLM is REST-JSON: its SDKs read the code from x-amzn-ErrorType, as in the JSON services.
    json_protocol = True if service == "dlm" else None
    return error_body(service, code, "injected by faultproxy", status, json_protocol, fault="Sender" if kind == "throttle" else "Receiver")


def injected(kind, prefix="injected"):
    with STATE["lock"]:
        name = f"{prefix}:{kind}"
        STATE["counts"][name] = STATE["counts"].get(name, 0) + 1


def draw(seed, key, n):
    digest = hashlib.sha256(f"{seed}|{key}|{n}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def make_handler(options, cloud):
    upstream = urllib.parse.urlparse(options.upstream)
    dlm = Dlm(options.upstream)
    ebs_default = EbsDefaultKey(options.upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: without this, Nagle's algorithm and the client's
        # delayed ACK hold every answer back ~40 ms (the proxy stands in front of every moto).
        disable_nagle_algorithm = True

        def log_message(self, *args):
            pass

        def reply(self, status, headers, body):
            data = body.encode() if isinstance(body, str) else body
            try:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                # The client went away (a test killed it): nothing to answer.
                self.close_connection = True

        def forward(self, body):
            connection = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("content-length", "connection")}
            connection.request(self.command, self.path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
            headers = {k: v for k, v in response.getheaders() if k.lower() not in ("content-length", "transfer-encoding", "connection")}
            connection.close()
            return response.status, headers, data

        def handle_any(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.path.startswith("/__proxy/counts"):
                with STATE["lock"]:
                    return self.reply(200, {"Content-Type": "application/json"}, json.dumps(STATE["counts"]))
            if self.path.startswith("/__proxy/rules"):
                counts = cloud.rule_counts() if cloud else {}
                return self.reply(200, {"Content-Type": "application/json"}, json.dumps(counts, sort_keys=True))
            if self.path.startswith("/__proxy/dlm"):
                return self.reply(200, {"Content-Type": "application/json"}, json.dumps({"dlm": "memory"}))
            if self.command == "POST" and self.path.startswith("/moto-api/reset"):
                dlm.reset()  # and moto resets itself below
                ebs_default.reset()
                with STATE["lock"]:
                    STATE["lost"].clear()
            region, service = scope_of(self.headers)
            action, params = operation_of(service, self.command, self.path, self.headers, body)
            key = f"{service}|{action}|{params}"
            with STATE["lock"]:
                n = STATE["seen"].get(key, 0)
                STATE["seen"][key] = n + 1
                name = f"{service}:{action}"
                STATE["counts"][name] = STATE["counts"].get(name, 0) + 1
            if options.delay_ms or options.jitter_ms:
                jitter = random.Random(f"{options.seed}|{key}|{n}|delay").uniform(0, options.jitter_ms)
                time.sleep((options.delay_ms + jitter) / 1000)
            if options.then_refuse and n > 0 and key in STATE["lost"]:
                injected("then-refuse")
                json_protocol = True if service == "dlm" else None
                return self.reply(*error_body(service, options.then_refuse, "refused by faultproxy: made already", 400, json_protocol))
            roll = draw(options.seed, key, n)
            if roll < options.throttle:
                injected("throttle")
                return self.reply(*error(service, "throttle", 503 if service in ("ec2", "s3") else 400))
            roll -= options.throttle
            if roll < options.e500:
                injected("e500")
                return self.reply(*error(service, "e500", 500))
            roll -= options.e500
            if roll < options.e503:
                injected("e503")
                return self.reply(*error(service, "e503", 503))
            roll -= options.e503
            if service == "dlm":
                # moto has no DLM: answered from memory, in every mode (it stores, it snapshots
                # nothing), by the proxy nearest moto.
                if dlm.forwarded():
                    status, headers, data = self.forward(body)
                else:
                    status, headers, data = dlm.answer(self.command, self.path, self.headers, body, region)
                return self.answer_after(key, service, action, roll, status, headers, data)
            if service == "ec2" and action in EBS_DEFAULT_ACTIONS:
                # moto lacks EC2's default EBS key (ebsdefault.py): answered from memory, in every
                # mode, by the proxy nearest moto (an upstream that answers DLM answers these too).
                if dlm.forwarded():
                    status, headers, data = self.forward(body)
                else:
                    status, headers, data = ebs_default.answer(action, body, self.headers, region)
                return self.answer_after(key, service, action, roll, status, headers, data)
            call = None
            if cloud is not None:
                call = Call(service, region, self.command, self.path, self.headers, body)
                try:
                    cloud.before(call)
                except Refused as refused:
                    # "injected:strict" is what the delete-order checks (--strict) always counted.
                    injected("strict" if refused.rule == "delete-order" else refused.rule, "injected" if refused.rule == "delete-order" else "refused")
                    return self.reply(*error_body(service, refused.code, refused.message, refused.status, call.json_protocol))
                except Answered as answered:  # a call moto lacks, answered by the cloud (scaling.py: lifecycle actions)
                    return self.answer_after(key, service, action, roll, *answered.reply)
                except Exception as e:  # noqa: BLE001 - a rule that cannot tell lets moto answer
                    print(f"faultproxy: rule check for {service}:{action} failed: {e!r}", file=sys.stderr, flush=True)
                body = call.body
            status, headers, data = self.forward(body)
            if call is not None:
                rewritten = cloud.after(call, status, headers, data)
                if rewritten is not data:
                    headers = {k: v for k, v in headers.items() if k.lower() != "x-amz-crc32"}
                    data = rewritten
            return self.answer_after(key, service, action, roll, status, headers, data)

        def answer_after(self, key, service, action, roll, status, headers, data):
            """The answer, or (--after) a 503 in its place although the call took effect."""
            after_applies = any(action.startswith(p) for p in options.after_only) if options.after_only else True
            if roll < options.after and after_applies and status < 300:
                injected("after")
                with STATE["lock"]:
                    STATE["lost"].add(key)
                return self.reply(*error(service, "e503", 503))
            return self.reply(status, headers, data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_any

    return Handler


def comma_list(text):
    """A flag's comma-separated list (images, instance types), blanks dropped."""
    return [part.strip() for part in text.split(",") if part.strip()]


def seconds(text):
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("a duration is 0 or more seconds")
    return value


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listen", type=int, default=0)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--delay-ms", type=float, default=0)
    parser.add_argument("--jitter-ms", type=float, default=0)
    parser.add_argument("--throttle", type=float, default=0)
    parser.add_argument("--e500", type=float, default=0)
    parser.add_argument("--e503", type=float, default=0)
    parser.add_argument("--after", type=float, default=0)
    parser.add_argument("--after-only", type=lambda s: [p for p in s.split(",") if p], default=[])
    parser.add_argument("--then-refuse", default="", help="refuse a call sent again after --after took its answer, with this code")
    parser.add_argument("--seed", default="1")
    parser.add_argument("--strict", action="store_true", help="refuse deletes in an order AWS refuses (rule delete-order alone)")
    parser.add_argument("--counts")
    cloud_flags = parser.add_argument_group("strict cloud (--cloud strict)")
    cloud_flags.add_argument("--cloud", choices=["lenient", "strict"], default="lenient", help="strict: enforce the rules below on top of moto")
    cloud_flags.add_argument("--rules", default="all", help="which rules: all (default), none, a list, or all but: -route53,-clocks. Rules: " + ", ".join(RULES))
    cloud_flags.add_argument("--not-subscribed", type=comma_list, default=[],
                             help="Marketplace images the account has not subscribed to: ami-ID, ami-ID=PRODUCTCODE, or PRODUCTCODE (matched against the image's product codes)")
    cloud_flags.add_argument("--product-code", default="4wh7rhpic3wfwamyp5905tsbt", help="the sku shown for an ami-ID listed without one (default: Ant Media Server's)")
    cloud_flags.add_argument("--linger-s", type=seconds, default=3.0, help="a deleted load balancer's interfaces hold its groups and subnets (default 3; AWS: minutes)")
    cloud_flags.add_argument("--shutting-down-s", type=seconds, default=2.0, help="a terminated instance stays shutting-down, holding its groups and subnet (default 2)")
    cloud_flags.add_argument("--cert-in-use-s", type=seconds, default=3.0, help="a certificate stays in use after its last listener went (default 3)")
    cloud_flags.add_argument("--consistency-s", type=seconds, default=2.0, help="new resources are not found yet (default 2; each kind below overrides it)")
    for kind, what in (("sg", "a new security group, to AuthorizeSecurityGroupIngress/Egress"),
                       ("profile", "a new instance profile, to RunInstances and groups' launch templates"),
                       ("cert", "a just-ISSUED certificate, to CreateListener/ModifyListener"),
                       ("tg", "a new target group, to listeners, RegisterTargets and groups")):
        cloud_flags.add_argument(f"--{kind}-consistency-s", type=seconds, default=None, help=f"{what} (default: --consistency-s)")
    cloud_flags.add_argument("--lb-provisioning-s", type=seconds, default=2.0, help="load balancer provisioning before active (default 2)")
    cloud_flags.add_argument("--instance-pending-s", type=seconds, default=1.0, help="instance pending before running (default 1)")
    cloud_flags.add_argument("--target-initial-s", type=seconds, default=2.0, help="target initial before healthy (default 2)")
    cloud_flags.add_argument("--asg-pending-s", type=seconds, default=1.0, help="group instance Pending before InService (default 1)")
    cloud_flags.add_argument("--never-healthy", type=comma_list, default=[],
                             help="images (ami-ID list) whose instances never pass a load balancer's health checks: a node that never serves")
    # Rules no-capacity, volume-modification, access-log-race (creating.py).
    cloud_flags.add_argument("--no-capacity", type=comma_list, default=[],
                             help="instance types AWS has no capacity for: TYPE (every zone) or TYPE@ZONE; RunInstances and StartInstances "
                                  "of them answer InsufficientInstanceCapacity (500) (default: none)")
    cloud_flags.add_argument("--volume-modification-s", type=seconds, default=1.0,
                             help="a volume modification is modifying, then optimizing, for this long before completed; ModifyVolume waits for it (default 1)")
    cloud_flags.add_argument("--volume-modifications-per-day", type=int, default=4, help="modifications of one volume within --volume-modification-day-s (default 4, as AWS)")
    cloud_flags.add_argument("--volume-modification-day-s", type=seconds, default=86400.0, help="the rolling window of that limit (default 86400: a day, unscaled)")
    cloud_flags.add_argument("--bucket-policy-s", type=seconds, default=1.0,
                             help="a just-put bucket policy is not yet seen by Elastic Load Balancing: access logs to the bucket are refused (default 1)")
    cloud_flags.add_argument("--cert-pending-s", type=seconds, default=0.0,
                             help="certificate PENDING_VALIDATION for this long after the request, on top of moto's own MOTO_ACM_VALIDATION_WAIT (default 0)")
    # Rules idle-scale-in, deregistration-phase, scaling-activity, launch-hook (scaling.py).
    cloud_flags.add_argument("--scale-in-warmup-s", type=seconds, default=1.5,
                             help="after a group's capacity increase, its target-tracking policy holds scale-in off this long (default 1.5; AWS: the 300 s warm-up)")
    cloud_flags.add_argument("--alarm-period-s", type=seconds, default=1.0,
                             help="a quiet group's scale-in alarm invokes Auto Scaling again this often while it stays in ALARM (default 1; AWS: a minute)")
    cloud_flags.add_argument("--lifecycle-scale", type=seconds, default=0.01,
                             help="deregistration delays and lifecycle hooks' heartbeat timeouts are AWS's values times this (default 0.01: 900 s -> 9 s)")
    cloud_flags.add_argument("--activity-s", type=seconds, default=0.5,
                             help="a group's scaling activity is in progress this long after it launched or terminated an instance (default 0.5)")
    cloud_flags.add_argument("--node-ready-s", type=seconds, default=1.0,
                             help="a new instance held by a launch hook completes it (CONTINUE) this long after its wait began: the node's boot (default 1)")
    cloud_flags.add_argument("--never-ready", type=comma_list, default=[],
                             help="images (ami-ID list) whose instances complete their launch hook with ABANDON: a node whose boot failed")
    cloud_flags.add_argument("--plugin-digests", type=lambda v: [tuple(p.split("=", 1)) for p in comma_list(v)], default=[],
                             help="FILE=SHA256 list: the plugins the cloud serves to booting nodes; a node whose user data names a plugin with another digest, or one not served, fails its boot (ABANDON)")
    options = parser.parse_args()
    cloud = None
    if options.strict or options.cloud == "strict":
        from cloud import Cloud, parse_rules  # noqa: I001

        try:
            enabled = parse_rules(options.rules) if options.cloud == "strict" else set()
        except ValueError as e:
            parser.error(str(e))
        if options.strict:
            enabled.add("delete-order")
        consistency = lambda kind: options.consistency_s if getattr(options, f"{kind}_consistency_s") is None else getattr(options, f"{kind}_consistency_s")
        timing = types.SimpleNamespace(
            linger=options.linger_s, shutting_down=options.shutting_down_s, cert_in_use=options.cert_in_use_s,
            sg=consistency("sg"), profile=consistency("profile"), cert=consistency("cert"), tg=consistency("tg"),
            lb_provisioning=options.lb_provisioning_s, instance_pending=options.instance_pending_s,
            target_initial=options.target_initial_s, asg_pending=options.asg_pending_s, cert_pending=options.cert_pending_s,
        )
        cloud = Cloud(options.upstream, enabled, timing, options.not_subscribed, options.product_code, legacy_strict=options.strict)
        cloud.never_healthy = set(options.never_healthy)
        cloud.configure_creating(options)  # creating.py: --no-capacity, --volume-modification*, --bucket-policy-s
        cloud.configure_scaling(options)  # scaling.py: --scale-in-warmup-s, --alarm-period-s, --lifecycle-scale, --activity-s, --node-ready-s, --never-ready, --plugin-digests
    server = ThreadingHTTPServer(("127.0.0.1", options.listen), make_handler(options, cloud))
    server.daemon_threads = True

    def stop(*_):
        if options.counts:
            with open(options.counts, "w") as f:
                json.dump(STATE["counts"], f, indent=1, sort_keys=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    print(f"faultproxy listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    finally:
        stop()


if __name__ == "__main__":
    main()
