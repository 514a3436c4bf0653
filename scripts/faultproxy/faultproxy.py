"""A fault-injecting reverse proxy in front of moto, for ams-stack's reliability tests.

Deterministic by seed: a request's fate is drawn from sha256(seed | key | n), where key is the
service, the operation and its parameters (without signatures and idempotency tokens) and n counts
how often that key was seen, so a retry gets a fresh draw. Errors are written in each protocol's
own format (EC2, the query services, Route 53's REST XML, the JSON services, S3), because the SDK
only retries what it can parse.

  faultproxy.py --listen PORT --upstream URL [--delay-ms N] [--jitter-ms N]
                [--throttle F] [--e500 F] [--e503 F] [--after F] [--after-only PREFIXES]
                [--seed S] [--strict] [--counts FILE]

--after F: forward the call, then answer 503 anyway (the call took effect, the client does not
know). --after-only Create,Run,...: limit --after to operations with these prefixes.
--strict: refuse deletes in an order AWS refuses (moto allows them): a security group in use, a
subnet with instances or a load balancer, a VPC with groups or an attached gateway, a group with
instances. GET /__proxy/counts returns the calls by operation; --counts writes them on exit.
Standard library only, plus boto3 (which moto brings) for --strict.
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
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKENS = {"ClientToken", "IdempotencyToken", "CallerReference", "X-Amz-Date", "Signature"}
STATE = {"seen": {}, "counts": {}, "lock": threading.Lock()}


def service_of(headers):
    auth = headers.get("Authorization", "")
    if "Credential=" in auth:
        scope = auth.split("Credential=")[1].split(",")[0].split("/")
        if len(scope) >= 4:
            return scope[3]
    return "unknown"


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
    if service == "route53":
        shape = "/".join(p if not p.startswith(("Z", "C")) else "{id}" for p in urllib.parse.urlparse(path).path.split("/"))
        return f"{method} {shape}", body.decode("utf-8", "replace")
    return f"{method} {service}", path + body.decode("utf-8", "replace")


def error(service, kind, status):
    """(status, headers, body) of an error in the service's own protocol."""
    code = {
        "throttle": {"ec2": "RequestLimitExceeded", "s3": "SlowDown"}.get(service, "Throttling"),
        "e500": "InternalError" if service in ("ec2", "s3") else "InternalFailure",
        "e503": "ServiceUnavailable",
    }[kind]
    message = "injected by faultproxy"
    if service == "ec2":
        body = f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>fp</RequestID></Response>"
        return status, {"Content-Type": "text/xml"}, body
    if service in ("acm", "ssm"):
        if kind == "throttle":
            code = "ThrottlingException"
        body = json.dumps({"__type": code, "message": message})
        return status, {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": code}, body
    if service == "s3":
        return status, {"Content-Type": "application/xml"}, f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    namespace = ' xmlns="https://route53.amazonaws.com/doc/2013-04-01/"' if service == "route53" else ""
    kind_of = "Sender" if kind == "throttle" else "Receiver"
    body = f"<ErrorResponse{namespace}><Error><Type>{kind_of}</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>fp</RequestId></ErrorResponse>"
    return status, {"Content-Type": "text/xml"}, body


def injected(kind):
    with STATE["lock"]:
        name = f"injected:{kind}"
        STATE["counts"][name] = STATE["counts"].get(name, 0) + 1


def draw(seed, key, n):
    digest = hashlib.sha256(f"{seed}|{key}|{n}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class Strict:
    """Asks moto what AWS would check before a delete."""

    def __init__(self, upstream):
        import boto3

        kwargs = dict(endpoint_url=upstream, region_name="ap-south-1", aws_access_key_id="test", aws_secret_access_key="test")
        self.ec2 = boto3.client("ec2", **kwargs)
        self.elb = boto3.client("elbv2", **kwargs)
        self.asg = boto3.client("autoscaling", **kwargs)

    def live_instances(self, filters):
        filters = filters + [{"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]
        reservations = self.ec2.describe_instances(Filters=filters)["Reservations"]
        return [i for r in reservations for i in r["Instances"]]

    def refusal(self, service, action, params):
        get = lambda k: params.get(k, [None])[0]
        if service == "ec2" and action == "DeleteSecurityGroup":
            group = get("GroupId")
            if self.live_instances([{"Name": "instance.group-id", "Values": [group]}]):
                return "DependencyViolation", f"resource {group} has a dependent object (instance)"
            for lb in self.elb.describe_load_balancers()["LoadBalancers"]:
                if group in lb.get("SecurityGroups", []):
                    return "DependencyViolation", f"resource {group} has a dependent object (load balancer)"
            for other in self.ec2.describe_security_groups()["SecurityGroups"]:
                for permission in other.get("IpPermissions", []):
                    if other["GroupId"] != group and any(p.get("GroupId") == group for p in permission.get("UserIdGroupPairs", [])):
                        return "DependencyViolation", f"resource {group} is referenced by {other['GroupId']}"
        if service == "ec2" and action == "DeleteSubnet":
            subnet = get("SubnetId")
            if self.live_instances([{"Name": "subnet-id", "Values": [subnet]}]):
                return "DependencyViolation", f"subnet {subnet} has instances"
            for lb in self.elb.describe_load_balancers()["LoadBalancers"]:
                if any(z.get("SubnetId") == subnet for z in lb.get("AvailabilityZones", [])):
                    return "DependencyViolation", f"subnet {subnet} has a load balancer"
        if service == "ec2" and action == "DeleteVpc":
            vpc = get("VpcId")
            groups = self.ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["SecurityGroups"]
            if any(g["GroupName"] != "default" for g in groups):
                return "DependencyViolation", f"vpc {vpc} has security groups"
            gateways = self.ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vpc]}])
            if gateways["InternetGateways"]:
                return "DependencyViolation", f"vpc {vpc} has an attached internet gateway"
        if service == "autoscaling" and action == "DeleteAutoScalingGroup" and get("ForceDelete") != "true":
            groups = self.asg.describe_auto_scaling_groups(AutoScalingGroupNames=[get("AutoScalingGroupName")])
            if any(g["Instances"] for g in groups["AutoScalingGroups"]):
                return "ResourceInUse", "You cannot delete an AutoScalingGroup while there are instances in that group."
        return None


def make_handler(options, strict):
    upstream = urllib.parse.urlparse(options.upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

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
            service = service_of(self.headers)
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
            if strict is not None and service in ("ec2", "autoscaling"):
                query = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
                refused = strict.refusal(service, action, query)
                if refused:
                    code, message = refused
                    status, headers, text = error(service, "throttle", 400)
                    text = text.replace("RequestLimitExceeded", code).replace("Throttling", code).replace("injected by faultproxy", message)
                    text = text.replace("<Type>Sender</Type>", "<Type>Sender</Type>")
                    injected("strict")
                    return self.reply(400, headers, text)
            status, headers, data = self.forward(body)
            after_applies = any(action.startswith(p) for p in options.after_only) if options.after_only else True
            if roll < options.after and after_applies and status < 300:
                injected("after")
                return self.reply(*error(service, "e503", 503))
            return self.reply(status, headers, data)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = handle_any

    return Handler


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
    parser.add_argument("--seed", default="1")
    parser.add_argument("--strict", action="store_true")
    parser.add_argument("--counts")
    options = parser.parse_args()
    strict = Strict(options.upstream) if options.strict else None
    server = ThreadingHTTPServer(("127.0.0.1", options.listen), make_handler(options, strict))
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
