"""AWS wire formats for the fault proxy: what a request is, and how each protocol answers an error.

Standard library only. Used by faultproxy.py (faults), cloud.py (the strict cloud's rules) and
clocks.py (rewriting the states that responses report).
"""

import json
import re
import urllib.parse
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

# Query protocol services (form-encoded bodies, XML answers). EC2 has its own error shape.
QUERY_SERVICES = ("ec2", "autoscaling", "elasticloadbalancing", "iam", "sts")
ROUTE53_NS = "https://route53.amazonaws.com/doc/2013-04-01/"


def scope_of(headers):
    """(region, service) from the SigV4 credential scope, or (None, "unknown")."""
    auth = headers.get("Authorization", "")
    if "Credential=" in auth:
        scope = auth.split("Credential=")[1].split(",")[0].split("/")
        if len(scope) >= 4:
            return scope[2], scope[3]
    return None, "unknown"


def error_body(service, code, message, status=400, json_protocol=None, fault="Sender"):
    """(status, headers, body) of an error with this code in the service's own protocol.

    json_protocol: the request came with X-Amz-Target (None: guess from the service name).
    """
    text = escape(message)
    if json_protocol is None:
        json_protocol = service in ("acm", "ssm")
    if service == "ec2":
        body = f"<Response><Errors><Error><Code>{code}</Code><Message>{text}</Message></Error></Errors><RequestID>fp</RequestID></Response>"
        return status, {"Content-Type": "text/xml"}, body
    if json_protocol:
        body = json.dumps({"__type": code, "message": message})
        return status, {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": code}, body
    if service == "s3":
        return status, {"Content-Type": "application/xml"}, f"<Error><Code>{code}</Code><Message>{text}</Message></Error>"
    namespace = f' xmlns="{ROUTE53_NS}"' if service == "route53" else ""
    body = f"<ErrorResponse{namespace}><Error><Type>{fault}</Type><Code>{code}</Code><Message>{text}</Message></Error><RequestId>fp</RequestId></ErrorResponse>"
    return status, {"Content-Type": "text/xml"}, body


class Refused(Exception):
    """A rule refuses a call: answer it with this code, message and HTTP status."""

    def __init__(self, rule, code, message, status=400):
        super().__init__(message)
        self.rule, self.code, self.message, self.status = rule, code, message, status


class Answered(Exception):
    """The strict cloud answers a call itself, successfully (a call moto lacks): reply is (status,
    headers, body). Not a Refused: not counted as a refusal, never forwarded."""

    def __init__(self, reply):
        super().__init__("answered by the strict cloud")
        self.reply = reply


class Call:
    """One request as the rules see it."""

    def __init__(self, service, region, method, path, headers, body):
        self.service = service
        self.region = region or "us-east-1"
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self.account = headers.get("x-moto-account-id")
        self.json_protocol = bool(headers.get("X-Amz-Target"))
        self.action = None
        self.query = []  # ordered (key, value) pairs of a query-protocol request's body
        self.url_query = urllib.parse.parse_qsl(urllib.parse.urlparse(path).query, keep_blank_values=True)
        self.data = {}  # a JSON-protocol request's body
        self.memo = {}  # what a rule learnt before forwarding, for after
        text = body.decode("utf-8", "replace")
        if self.json_protocol:
            self.action = headers.get("X-Amz-Target").split(".")[-1]
            try:
                self.data = json.loads(text or "{}")
            except ValueError:
                self.data = {}
        elif service in QUERY_SERVICES:
            self.query = urllib.parse.parse_qsl(text, keep_blank_values=True)
            self.action = self.get("Action")

    def pairs(self):
        return self.query + self.url_query

    def get(self, key, default=None):
        for k, v in self.pairs():
            if k == key:
                return v
        return default

    def values(self, prefix):
        """A list parameter: prefix.N or prefix.member.N, in order."""
        found = []
        pattern = re.compile(re.escape(prefix) + r"\.(?:member\.)?(\d+)$")
        for k, v in self.pairs():
            m = pattern.match(k)
            if m:
                found.append((int(m.group(1)), v))
        return [v for _, v in sorted(found)]

    def ending(self, suffix):
        """Every value whose key ends with suffix (e.g. every ...TargetGroupArn, however nested)."""
        return [v for k, v in self.pairs() if k == suffix or k.endswith("." + suffix)]

    def filters(self):
        """EC2 Filter.N.Name / Filter.N.Value.M as {index: (name, [values])}."""
        out = {}
        for k, v in self.pairs():
            m = re.match(r"Filter\.(\d+)\.Name$", k)
            if m:
                out[int(m.group(1))] = (v, self.values(f"Filter.{m.group(1)}.Value"))
        return out

    def encoded(self):
        """The body again, after a rule changed self.query."""
        return urllib.parse.urlencode(self.query).encode()


def local(tag):
    return tag.split("}", 1)[-1]


def find_all(node, name):
    """Descendants (any depth) with this local name."""
    return [e for e in node.iter() if local(e.tag) == name]


def child(node, name):
    for e in node:
        if local(e.tag) == name:
            return e
    return None


def child_text(node, name, default=None):
    e = child(node, name)
    return e.text if e is not None and e.text is not None else default


def set_child(node, name, text):
    """Set (or add) a child element's text, in the node's namespace."""
    e = child(node, name)
    if e is None:
        ns = node.tag[: node.tag.index("}") + 1] if node.tag.startswith("{") else ""
        e = ET.SubElement(node, ns + name)
    e.text = text
    return e


def edit_xml(data, edit):
    """Parse an XML answer, let edit(root) change it (it returns True if it did), serialise it back."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        return data
    if not edit(root):
        return data
    ns = root.tag[1 : root.tag.index("}")] if root.tag.startswith("{") else None
    try:
        text = ET.tostring(root, encoding="unicode", default_namespace=ns)
    except ValueError:  # an element outside the default namespace: leave the answer alone
        return data
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + text).encode()


def parse_xml(data):
    try:
        return ET.fromstring(data)
    except ET.ParseError:
        return None
