#!/usr/bin/env python3
# ams-s3-proxy: the local S3 proxy of an AMS node (made by ams-stack; installed as
# /usr/local/sbin/ams-s3-proxy and run by systemd as ams-s3-proxy.service). Python 3.8+, standard
# library only (the AMS image has python3 and no pip packages).
#
# Why: AMS records to S3 through the AWS SDK for Java v1 (io.antmedia.storage.AmazonS3StorageClient),
# which uses AWSStaticCredentialsProvider(BasicAWSCredentials(key, secret)) whenever its s3AccessKey
# setting is not null, and that setting defaults to "": AMS can never use the instance role (AMS
# issue #6737). Our rule is no IAM user and no access key anywhere. So AMS is pointed here
# (s3Endpoint=http://127.0.0.1:PORT, path-style, dummy keys that are no secret): this proxy drops
# AMS's signature and re-signs each request (SigV4, service s3) with the instance role's temporary
# credentials from IMDSv2 (cached, fetched again when less than 5 minutes remain), and forwards it
# to the real S3 over HTTPS.
# - Listens on 127.0.0.1 only. Path-style requests for the one bucket only: /BUCKET/KEY with KEY
#   under AMS_S3_PREFIX, and at /BUCKET only HeadBucket, GetBucketLocation, ListObjects(V2) and
#   ListMultipartUploads with a prefix under AMS_S3_PREFIX or none (AMS lists the whole bucket
#   once when its client starts, and fails to upload if refused: the bucket holds recordings
#   only), and DeleteObjects (?delete) of keys
#   under it. Anything else: 403 AccessDenied, S3-style XML. Outside the prefix is refused here,
#   not left to IAM: any local process may call this proxy without a key, so it signs only what the
#   role is meant to do for AMS (the role's grant is the same prefix) and a wrong AMS folder
#   setting shows up in this log at once.
# - Drops AMS's Authorization, x-amz-date, x-amz-security-token, x-amz-content-sha256, hop-by-hop
#   headers, and x-amz-acl and x-amz-grant-* (AMS sends its s3Permission as a canned ACL; the bucket
#   is BucketOwnerEnforced and S3 refuses any ACL but the owner's there). A copy source must be
#   under the prefix of the bucket too.
# - Bodies: aws-chunked ones (SDK v1's STREAMING-AWS4-HMAC-SHA256-PAYLOAD, newer SDKs'
#   STREAMING-UNSIGNED-PAYLOAD-TRAILER) are decoded as they stream (parts are 5+ MB; not held in
#   memory) and sent with Content-Length = x-amz-decoded-content-length and x-amz-content-sha256
#   UNSIGNED-PAYLOAD (S3 takes it over HTTPS); chunk signatures are not checked (the keys are dummy)
#   and trailing checksums are dropped, with the x-amz-sdk-checksum-algorithm that announced them.
#   A plain body passes through, with the client's SHA-256 if it sent one (S3 checks it).
#   HTTP chunked bodies (no Content-Length) are refused (411), as S3 does.
# - IMDS failure: 503 ServiceUnavailable (logged; credentials still valid for a minute are used).
#   Upstream unreachable: 502. S3's own answers, errors included, pass through as they are.
# One log line per request on stderr: method, key, status, bytes in and out. Never credentials,
# signatures or the IMDS token.
# Environment: AMS_S3_BUCKET, AMS_S3_REGION, AMS_S3_PREFIX (ends with /), AMS_S3_LISTEN_PORT.
# Tests only: AMS_S3_UPSTREAM (default https://s3.REGION.amazonaws.com, .com.cn in cn- regions),
# AMS_IMDS_ENDPOINT (default http://169.254.169.254).
#
import datetime
import hashlib
import hmac
import http.client
import json
import os
import re
import sys
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape

REFRESH_S, PIECE = 300, 65536
DROP = {"authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256", "x-amz-acl", "host", "expect", "connection",
        "keep-alive", "proxy-connection", "proxy-authorization", "te", "trailer", "upgrade", "transfer-encoding", "content-length",
        "x-amz-decoded-content-length", "x-amz-trailer", "user-agent"}
HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade", "transfer-encoding"}
LIST = {"list-type", "prefix", "delimiter", "marker", "max-keys", "continuation-token", "start-after", "encoding-type", "fetch-owner",
        "uploads", "key-marker", "upload-id-marker", "max-uploads"}


def log(message):
    print(f"ams-s3-proxy: {message}", file=sys.stderr, flush=True)


def settings(env):
    def need(name, pattern):
        value = env.get(name, "")
        if not re.fullmatch(pattern, value):
            log(f"error: {name}={value!r} is missing or invalid (must match {pattern})")
            sys.exit(1)
        return value
    bucket = need("AMS_S3_BUCKET", r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
    region = need("AMS_S3_REGION", r"[a-z]{2}(-[a-z]+)+-[0-9]+")
    prefix = need("AMS_S3_PREFIX", r"[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*/")
    port = int(need("AMS_S3_LISTEN_PORT", r"[1-9][0-9]{0,4}"))
    if port > 65535:
        log(f"error: AMS_S3_LISTEN_PORT={port} is no port")
        sys.exit(1)
    upstream = env.get("AMS_S3_UPSTREAM") or f"https://s3.{region}.amazonaws.com{'.cn' if region.startswith('cn-') else ''}"
    imds = env.get("AMS_IMDS_ENDPOINT") or "http://169.254.169.254"
    for name, url in (("AMS_S3_UPSTREAM", upstream), ("AMS_IMDS_ENDPOINT", imds)):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/") or parts.query:
            log(f"error: {name}={url!r} is not a plain http(s)://HOST[:PORT] address")
            sys.exit(1)
    return bucket, region, prefix, port, urllib.parse.urlsplit(upstream), urllib.parse.urlsplit(imds)


def connect(url, timeout):
    return (http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection)(url.netloc, timeout=timeout)


class Unavailable(Exception):
    pass


class Credentials:
    """The instance role's credentials from IMDSv2: (key id, secret, token, expiry as epoch seconds)."""

    def __init__(self, imds):
        self.imds, self.lock, self.current = imds, threading.Lock(), None

    def call(self, method, path, headers):
        conn = connect(self.imds, 3)
        try:
            conn.request(method, path, headers=headers)
            answer = conn.getresponse()
            body = answer.read().decode()
            if answer.status != 200:
                raise Unavailable(f"IMDS {method} {path}: HTTP {answer.status}")
            return body
        finally:
            conn.close()

    def fetch(self):
        token = self.call("PUT", "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "21600"})
        auth = {"X-aws-ec2-metadata-token": token}
        roles = self.call("GET", "/latest/meta-data/iam/security-credentials/", auth).split()
        if not roles:
            raise Unavailable("IMDS: no instance role (is the instance profile attached?)")
        doc = json.loads(self.call("GET", f"/latest/meta-data/iam/security-credentials/{roles[0]}", auth))
        if doc.get("Code") != "Success":
            raise Unavailable(f"IMDS: credentials of role {roles[0]}: {doc.get('Code')}")
        expiry = datetime.datetime.fromisoformat(doc["Expiration"].replace("Z", "+00:00")).timestamp()
        log(f"credentials of role {roles[0]} fetched, expiring {doc['Expiration']}")
        return doc["AccessKeyId"], doc["SecretAccessKey"], doc["Token"], expiry

    def get(self):
        with self.lock:
            if self.current is None or self.current[3] - time.time() < REFRESH_S:
                try:
                    self.current = self.fetch()
                except (OSError, ValueError, KeyError, http.client.HTTPException, Unavailable) as e:
                    reason = str(e) if isinstance(e, Unavailable) else f"IMDS: {type(e).__name__}"
                    if self.current is None or self.current[3] - time.time() < 60:
                        raise Unavailable(reason)
                    log(f"{reason}; using the credentials still valid until {time.ctime(self.current[3])}")
            return self.current


def sign(method, path, query, headers, creds, region):
    """Adds x-amz-date, x-amz-security-token and a SigV4 Authorization over every header given."""
    key_id, secret, token, _ = creds
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    headers.update({"x-amz-date": stamp, "x-amz-security-token": token})
    names = sorted(headers)
    canonical = "\n".join([method, path, query, "".join(f"{n}:{' '.join(headers[n].split())}\n" for n in names), ";".join(names),
                           headers["x-amz-content-sha256"]])
    scope = f"{stamp[:8]}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in (stamp[:8], region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = f"AWS4-HMAC-SHA256 Credential={key_id}/{scope}, SignedHeaders={';'.join(names)}, Signature={signature}"


def plain(rfile, n):
    while n > 0:
        piece = rfile.read(min(n, PIECE))
        if not piece:
            raise ValueError("the body ended early")
        n -= len(piece)
        yield piece


def aws_chunked(rfile, length):
    """The payload of an aws-chunked body: SIZE[;chunk-signature=S]\\r\\nDATA\\r\\n ... 0[;...]\\r\\n, trailers, \\r\\n."""
    left = length

    def line():
        nonlocal left
        raw = rfile.readline(min(left, 8192))
        left -= len(raw)
        if not raw.endswith(b"\r\n"):
            raise ValueError("bad aws-chunked framing")
        return raw[:-2]
    while True:
        head = line().split(b";")[0]
        if not re.fullmatch(rb"[0-9a-fA-F]{1,16}", head):  # int() alone takes "-1", "0x1", " 1"
            raise ValueError("bad aws-chunked framing")
        size = int(head, 16)
        if size == 0:
            break
        if size > left:
            raise ValueError("a chunk runs past the body")
        left -= size
        yield from plain(rfile, size)
        if line() != b"":
            raise ValueError("bad aws-chunked framing")
    while line():
        pass  # trailers (x-amz-checksum-*, x-amz-trailer-signature): dropped
    if left:
        raise ValueError("bytes after the final chunk")


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's pool expects

    def handle_expect_100(self):
        return True  # answered once the request is accepted: a refused one never sends its body

    def do_GET(self):
        self.bytes_in = self.bytes_out = 0
        self.key, status = "-", 500
        try:
            status = self.forward()
        except Exception as e:  # never a traceback with headers in it; the client gets an error
            log(f"error: {type(e).__name__}: {e}")
            self.close_connection = True
        log(f"{self.command} {self.key} {status} in={self.bytes_in} out={self.bytes_out}")
    do_HEAD = do_PUT = do_POST = do_DELETE = do_GET

    def log_message(self, *args):
        pass  # one line per request from do_GET instead

    def error(self, status, code, message, body_pending=True):
        if body_pending:  # a refused request's body: never sent after no 100 Continue, else read and dropped
            if "100-continue" in self.headers.get("Expect", "").lower() or "Transfer-Encoding" in self.headers:
                self.close_connection = True
            else:
                for _ in plain(self.rfile, int(self.headers.get("Content-Length") or 0)):
                    pass
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{escape(message)}</Message>'
                f"<Resource>{escape(self.path.split('?')[0])}</Resource></Error>").encode()
        self.send_response_only(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        return status

    def forward(self):
        path, _, raw_query = self.path.partition("?")
        parts = urllib.parse.unquote(path).split("/", 2) + [""]
        self.key = key = parts[2]
        pairs = sorted((urllib.parse.quote(urllib.parse.unquote(k), safe="-_.~"), urllib.parse.quote(urllib.parse.unquote(v), safe="-_.~"))
                       for k, _, v in (item.partition("=") for item in raw_query.split("&") if item))
        query = "&".join(f"{k}={v}" for k, v in pairs)
        params = {urllib.parse.unquote(k): urllib.parse.unquote(v) for k, v in pairs}
        method, denied = self.command, None
        if parts[0] != "" or parts[1] != BUCKET:
            denied = f"this proxy serves bucket {BUCKET} only, path-style"
        elif key and not key.startswith(PREFIX):
            denied = f"keys outside {PREFIX} are refused"
        elif not key and not ((method == "HEAD" and not params) or (method == "GET" and set(params) == {"location"})
                              or (method == "POST" and set(params) == {"delete"})
                              or (method == "GET" and set(params) <= LIST
                                  and (params.get("prefix", "") == "" or params["prefix"].startswith(PREFIX)))):
            denied = f"at the bucket only HeadBucket, GetBucketLocation, DeleteObjects and listings under {PREFIX} or whole"
        source = urllib.parse.unquote(self.headers.get("x-amz-copy-source", f"{BUCKET}/{PREFIX}")).lstrip("/")
        if not denied and not source.startswith(f"{BUCKET}/{PREFIX}"):
            denied = f"a copy source outside {BUCKET}/{PREFIX} is refused"
        if denied:
            return self.error(403, "AccessDenied", f"ams-s3-proxy: {denied}")
        if "Transfer-Encoding" in self.headers:
            return self.error(411, "MissingContentLength", "ams-s3-proxy: a body needs a Content-Length")
        length = int(self.headers.get("Content-Length") or 0)
        sha = self.headers.get("x-amz-content-sha256", "")
        encodings = [e.strip() for e in self.headers.get("Content-Encoding", "").split(",") if e.strip()]
        headers = {}
        for name, value in self.headers.items():
            n = name.lower()
            if n in DROP or n.startswith("x-amz-grant-") or (n == "x-amz-sdk-checksum-algorithm" and "x-amz-trailer" in self.headers):
                continue
            if n == "content-encoding":
                value = ", ".join(e for e in encodings if e != "aws-chunked")
                if not value:
                    continue
            headers[n] = f"{headers[n]},{value}" if n in headers else value
        if sha.startswith("STREAMING-") or "aws-chunked" in encodings:
            decoded = self.headers.get("x-amz-decoded-content-length", "")
            if not decoded.isdigit():
                return self.error(400, "MissingContentLength", "ams-s3-proxy: aws-chunked without x-amz-decoded-content-length")
            size, body = int(decoded), aws_chunked(self.rfile, length)
            headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
        else:
            size, body = length, plain(self.rfile, length)
            headers["x-amz-content-sha256"] = sha if re.fullmatch(r"[0-9a-f]{64}", sha) else "UNSIGNED-PAYLOAD"
        if method == "POST" and not key:  # DeleteObjects: a small XML body, every key under the prefix
            whole = b"".join(body)
            body = iter([whole])
            try:
                keys = [e.text or "" for e in ET.fromstring(whole).iter() if e.tag.rsplit("}", 1)[-1] == "Key"]
            except ET.ParseError:
                return self.error(400, "MalformedXML", "ams-s3-proxy: DeleteObjects body is no XML", False)
            if not all(k.startswith(PREFIX) for k in keys):
                return self.error(403, "AccessDenied", f"ams-s3-proxy: keys outside {PREFIX} are refused", False)
        try:
            creds = CREDENTIALS.get()
        except Unavailable as e:
            log(f"error: {e}")
            return self.error(503, "ServiceUnavailable", "ams-s3-proxy: no instance role credentials from IMDS (see its log)")
        if size or method in ("PUT", "POST"):
            headers["content-length"] = str(size)
        headers["host"] = UPSTREAM.netloc
        upath = urllib.parse.quote(f"/{BUCKET}/{key}", safe="/~")
        sign(method, upath, query, headers, creds, REGION)
        if "100-continue" in self.headers.get("Expect", "").lower():
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.wfile.flush()
        conn, answered = connect(UPSTREAM, 60), False
        try:
            conn.putrequest(method, upath + (f"?{query}" if query else ""), skip_host=True, skip_accept_encoding=True)
            for name, value in headers.items():
                conn.putheader(name, value)
            conn.endheaders()
            try:
                for piece in body:
                    if self.bytes_in + len(piece) > size:
                        raise ValueError("the body is longer than its declared length")
                    conn.send(piece)
                    self.bytes_in += len(piece)
                if self.bytes_in != size:
                    raise ValueError("the body is shorter than its declared length")
            except ValueError as e:
                self.close_connection = True  # where the next request starts is lost
                return self.error(400, "IncompleteBody", f"ams-s3-proxy: {e}", False)
            answer = conn.getresponse()
            answered = True
            self.send_response_only(answer.status, answer.reason)
            for name, value in answer.getheaders():
                if name.lower() not in HOP:
                    self.send_header(name, value)
            if method != "HEAD" and answer.getheader("Content-Length") is None and answer.status not in (204, 304):
                self.send_header("Connection", "close")  # the end of the body is where the connection ends
            self.end_headers()
            while method != "HEAD":
                piece = answer.read(PIECE)
                if not piece:
                    break
                self.wfile.write(piece)
                self.bytes_out += len(piece)
            return answer.status
        except (OSError, http.client.HTTPException) as e:
            if answered:
                raise
            self.close_connection = True  # the body may be half sent
            return self.error(502, "BadGateway", f"ams-s3-proxy: S3 unreachable: {type(e).__name__}", False)
        finally:
            conn.close()

if __name__ == "__main__":
    BUCKET, REGION, PREFIX, PORT, UPSTREAM, IMDS = settings(os.environ)
    CREDENTIALS = Credentials(IMDS)
    server = ThreadingHTTPServer(("127.0.0.1", PORT), Proxy)
    server.daemon_threads = True
    log(f"listening on http://127.0.0.1:{PORT} for s3://{BUCKET}/{PREFIX} through {UPSTREAM.geturl()}")
    server.serve_forever()
