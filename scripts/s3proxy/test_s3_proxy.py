"""Tests of the nodes' local S3 proxy (src/cluster/user_data/s3-proxy.py) against a real moto server.

Run: .venv/bin/python scripts/s3proxy/test_s3_proxy.py   (standard library unittest; needs
`scripts/emulator.sh install` for .venv). Starts on free loopback ports: moto, a capturing server
between the proxy and moto (it records what S3 would see, and checks every signature with
botocore's own SigV4 signer), a fake IMDSv2 (a token required, credentials with an expiry, fetches
counted) and the proxy itself as a subprocess, as systemd runs it. Clients talk to the proxy as AMS
does: path-style, dummy keys.
"""

import hashlib
import http.client
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PROXY_SCRIPT = os.path.join(REPO, "src", "cluster", "user_data", "s3-proxy.py")
BUCKET, OTHER, REGION, PREFIX = "ams-recordings-test", "someone-elses-bucket", "eu-west-1", "recordings/"
DUMMY = ("ams-stack", "signed-by-the-node")
IMDS_TOKEN = "imds-token-never-logged"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(handler):
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    SERVERS.append(server)
    return f"http://127.0.0.1:{server.server_address[1]}"


class Quiet(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class FakeImds:
    """IMDSv2: a PUT for a token, then the role's name and credentials with that token only."""

    def __init__(self, lifetime_s=3600):
        self.lifetime_s, self.fetches, self.creds = lifetime_s, 0, None
        imds = self

        class Handler(Quiet):
            def do_PUT(self):
                if self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds") == "21600":
                    return self.answer(200, IMDS_TOKEN.encode())
                self.answer(400)

            def do_GET(self):
                if self.headers.get("X-aws-ec2-metadata-token") != IMDS_TOKEN:
                    return self.answer(401)
                if self.path == "/latest/meta-data/iam/security-credentials/":
                    return self.answer(200, b"ams-node-role")
                if self.path == "/latest/meta-data/iam/security-credentials/ams-node-role":
                    return self.answer(200, imds.issue().encode())
                self.answer(404)
        self.endpoint = serve(Handler)

    def issue(self):
        self.fetches += 1
        n = self.fetches
        self.creds = (f"ASIAFAKEROLE{n:08d}", f"fake-role-secret-{n}", f"fake-session-token-{n}")
        expiry = (datetime.now(timezone.utc) + timedelta(seconds=self.lifetime_s)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return ('{"Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": "%s", "SecretAccessKey": "%s", "Token": "%s", "Expiration": "%s"}'
                % (*self.creds, expiry))


class Capture:
    """Between the proxy and moto: records each request as S3 would see it, then forwards it."""

    def __init__(self, upstream):
        self.seen = []
        capture, target = self, upstream.split("//")[1]

        class Handler(Quiet):
            def do_GET(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                capture.seen.append({"method": self.command, "path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                     "body": len(body)})
                if len(body) < length:  # the sender gave up mid-body: S3 would store nothing
                    self.close_connection = True
                    return
                conn = http.client.HTTPConnection(target, timeout=30)
                conn.request(self.command, self.path, body=body, headers=dict(self.headers.items()))
                answer = conn.getresponse()
                data = answer.read()
                keep = [(k, v) for k, v in answer.getheaders() if k.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date")]
                if self.command == "HEAD":
                    self.send_response(answer.status)
                    for name, value in keep + [("Content-Length", answer.getheader("Content-Length", "0"))]:
                        self.send_header(name, value)
                    self.end_headers()
                else:
                    self.answer(answer.status, data, keep)
                conn.close()
            do_HEAD = do_PUT = do_POST = do_DELETE = do_GET
        self.endpoint = serve(Handler)


class Proxy:
    """The proxy as systemd runs it: a subprocess with its settings in the environment; its log kept."""

    def __init__(self, upstream, imds, **overrides):
        self.port = free_port()
        env = dict(os.environ, AMS_S3_BUCKET=BUCKET, AMS_S3_REGION=REGION, AMS_S3_PREFIX=PREFIX, AMS_S3_LISTEN_PORT=str(self.port),
                   AMS_S3_UPSTREAM=upstream, AMS_IMDS_ENDPOINT=imds, **overrides)
        self.process = subprocess.Popen([sys.executable, PROXY_SCRIPT], env=env, stderr=subprocess.PIPE, text=True)
        PROCESSES.append(self.process)
        self.lines, ready = [], threading.Event()

        def read():
            for line in self.process.stderr:
                self.lines.append(line.rstrip("\n"))
                if "listening on http://127.0.0.1:" in line:
                    ready.set()
        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(10):
            raise RuntimeError(f"the proxy did not start: {self.lines}")
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def client(self):
        return boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION, aws_access_key_id=DUMMY[0], aws_secret_access_key=DUMMY[1],
                            config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}))


def code(fn, **kwargs):
    try:
        fn(**kwargs)
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    return None


def chunked(data, size, signed, trailer=None):
    """An aws-chunked body: SDK v1's signed chunks, or newer SDKs' unsigned chunks with a trailer."""
    out = b""
    for i in range(0, len(data), size):
        piece = data[i:i + size]
        out += b"%x" % len(piece) + (b";chunk-signature=" + b"a" * 64 if signed else b"") + b"\r\n" + piece + b"\r\n"
    if signed:
        return out + b"0;chunk-signature=" + b"b" * 64 + b"\r\n\r\n"
    return out + b"0\r\n" + (trailer or b"") + b"\r\n"


def setUpModule():
    global MOTO, CAPTURE, IMDS, PROXY, S3, DIRECT
    moto = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "moto_server"), "-H", "127.0.0.1", "-p", str(free_port())],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    PROCESSES.append(moto)
    for line in moto.stderr:
        if "http://127.0.0.1:" in line:
            MOTO = line[line.index("http://127.0.0.1:"):].split()[0]
            break
    threading.Thread(target=lambda: [None for _ in moto.stderr], daemon=True).start()
    DIRECT = boto3.client("s3", endpoint_url=MOTO, region_name=REGION, aws_access_key_id="test", aws_secret_access_key="test")
    for bucket in (BUCKET, OTHER):
        DIRECT.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    CAPTURE, IMDS = Capture(MOTO), FakeImds()
    PROXY = Proxy(CAPTURE.endpoint, IMDS.endpoint)
    S3 = PROXY.client()


def tearDownModule():
    for server in SERVERS:
        server.shutdown()
    for process in PROCESSES:
        process.terminate()
        process.wait(10)
        process.stderr.close()


SERVERS, PROCESSES = [], []


class ProxyCase(unittest.TestCase):
    def setUp(self):
        self.first = len(CAPTURE.seen)

    def seen(self):
        """What reached the upstream in this test; every request checked as S3 would check it."""
        seen = CAPTURE.seen[self.first:]
        for record in seen:
            self.assertSigned(record, IMDS.creds)
        return seen

    def assertSigned(self, record, creds):
        headers = record["headers"]
        match = re.fullmatch(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([a-z0-9-]+)/s3/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})",
                             headers.get("authorization", ""))
        self.assertIsNotNone(match, headers.get("authorization"))
        self.assertTrue(headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={creds[0]}/"))
        self.assertEqual((match[3], headers.get("x-amz-security-token")), (REGION, creds[2]))
        self.assertNotIn("x-amz-acl", headers)
        self.assertNotIn("ams-stack", " ".join(headers.values()))
        signed = match[4].split(";")
        self.assertEqual([], [h for h in headers if h.startswith("x-amz-") and h not in signed], "every x-amz-* header signed")
        request = AWSRequest(record["method"], CAPTURE.endpoint + record["path"], headers={h: headers[h] for h in signed})
        request.context["timestamp"] = headers["x-amz-date"]
        signer = S3SigV4Auth(Credentials(*creds), "s3", REGION)
        self.assertEqual(signer.signed_headers(signer.headers_to_sign(request)), match[4])
        canonical = signer.canonical_request(request)
        self.assertEqual(signer.signature(signer.string_to_sign(request, canonical), request), match[5], canonical)

    def test_small_object_round_trip(self):
        for key in (f"{PREFIX}streams/small.txt", f"{PREFIX}previews/a b+c ü~(1).png"):
            S3.put_object(Bucket=BUCKET, Key=key, Body=b"hello, s3", ContentType="text/plain", ACL="public-read", Metadata={"stream": "s1"},
                          StorageClass="STANDARD_IA")
            self.assertEqual(S3.get_object(Bucket=BUCKET, Key=key)["Body"].read(), b"hello, s3")
            head = S3.head_object(Bucket=BUCKET, Key=key)
            self.assertEqual((head["ContentLength"], head["ContentType"], head["Metadata"], head["StorageClass"]), (9, "text/plain", {"stream": "s1"}, "STANDARD_IA"))
            self.assertEqual(DIRECT.get_object(Bucket=BUCKET, Key=key)["Body"].read(), b"hello, s3")
            self.assertEqual(S3.get_object(Bucket=BUCKET, Key=key, Range="bytes=7-8")["Body"].read(), b"s3")
            S3.delete_object(Bucket=BUCKET, Key=key)
            self.assertEqual(code(DIRECT.head_object, Bucket=BUCKET, Key=key), ("404", 404))
        put = [r for r in self.seen() if r["method"] == "PUT"]
        self.assertEqual(len(put), 2)
        self.assertEqual(put[0]["headers"]["x-amz-content-sha256"], hashlib.sha256(b"hello, s3").hexdigest(), "the client's hash kept")

    def test_multipart_upload_file(self):
        data = os.urandom(12 * 1024 * 1024 + 123)
        with tempfile.NamedTemporaryFile() as f:
            f.write(data)
            f.flush()
            S3.upload_file(f.name, BUCKET, f"{PREFIX}streams/big.mp4", Config=TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20))
        self.assertEqual(hashlib.sha256(S3.get_object(Bucket=BUCKET, Key=f"{PREFIX}streams/big.mp4")["Body"].read()).digest(), hashlib.sha256(data).digest())
        self.assertEqual(hashlib.sha256(DIRECT.get_object(Bucket=BUCKET, Key=f"{PREFIX}streams/big.mp4")["Body"].read()).digest(), hashlib.sha256(data).digest())
        self.assertEqual(S3.head_object(Bucket=BUCKET, Key=f"{PREFIX}streams/big.mp4")["ContentLength"], len(data))
        calls = [(r["method"], r["path"].split("?")[1].split("=")[0] if "?" in r["path"] else "") for r in self.seen()]
        self.assertEqual(calls[:5], [("POST", "uploads"), ("PUT", "partNumber"), ("PUT", "partNumber"), ("PUT", "partNumber"), ("POST", "uploadId")])
        S3.delete_object(Bucket=BUCKET, Key=f"{PREFIX}streams/big.mp4")

    def test_list_under_prefix(self):
        for name in ("a", "b"):
            S3.put_object(Bucket=BUCKET, Key=f"{PREFIX}list/{name}", Body=name.encode())
        listed = S3.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}list/")
        self.assertEqual([o["Key"] for o in listed["Contents"]], [f"{PREFIX}list/a", f"{PREFIX}list/b"])
        self.assertEqual(len(S3.list_objects(Bucket=BUCKET, Prefix=f"{PREFIX}list/")["Contents"]), 2)
        S3.head_bucket(Bucket=BUCKET)
        for prefix in ("other/", "recordings"):
            self.assertEqual(code(S3.list_objects_v2, Bucket=BUCKET, Prefix=prefix), ("AccessDenied", 403), prefix)
        # The whole bucket, as AMS's client lists it once when it starts (getObjects("")).
        self.assertIn(f"{PREFIX}list/a", [o["Key"] for o in S3.list_objects_v2(Bucket=BUCKET)["Contents"]])
        self.seen()

    def test_delete_objects(self):
        keys = [f"{PREFIX}del/{n}" for n in range(3)]
        for key in keys:
            S3.put_object(Bucket=BUCKET, Key=key, Body=b"x")
        self.assertEqual(code(S3.delete_objects, Bucket=BUCKET, Delete={"Objects": [{"Key": keys[0]}, {"Key": "elsewhere/x"}]}), ("AccessDenied", 403))
        self.assertEqual(DIRECT.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}del/")["KeyCount"], 3, "nothing deleted")
        S3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": k} for k in keys]})
        self.assertEqual(DIRECT.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}del/")["KeyCount"], 0)
        self.seen()

    def put_raw(self, conn, path, body, headers):
        conn.request("PUT", path if headers.get("Host") else f"/{BUCKET}/{path}", body=body, headers=headers)
        answer = conn.getresponse()
        return answer.status, answer.read()

    def test_sdk_v1_signed_aws_chunked(self):
        data = os.urandom(3 * 65536 + 8192)
        key = f"{PREFIX}streams/v1.mp4"
        conn = http.client.HTTPConnection(f"127.0.0.1:{PROXY.port}", timeout=30)
        headers = {"Authorization": f"AWS4-HMAC-SHA256 Credential={DUMMY[0]}/20250101/{REGION}/s3/aws4_request, SignedHeaders=host, Signature={'c' * 64}",
                   "x-amz-date": "20250101T000000Z", "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "Content-Type": "video/mp4",
                   "x-amz-decoded-content-length": str(len(data)), "x-amz-acl": "public-read", "x-amz-storage-class": "STANDARD",
                   "Expect": "100-continue", "User-Agent": "aws-sdk-java/1.12.x", "amz-sdk-invocation-id": "abc"}
        self.assertEqual(self.put_raw(conn, key, chunked(data, 65536, signed=True), headers)[0], 200)
        conn.request("GET", f"/{BUCKET}/{key}")  # the same keep-alive connection: the body was read to its end
        self.assertEqual(conn.getresponse().read(), data)
        self.assertEqual(DIRECT.get_object(Bucket=BUCKET, Key=key)["Body"].read(), data)
        self.assertEqual(DIRECT.head_object(Bucket=BUCKET, Key=key)["ContentType"], "video/mp4")
        put = self.seen()[0]["headers"]
        self.assertEqual((put["content-length"], put["x-amz-content-sha256"]), (str(len(data)), "UNSIGNED-PAYLOAD"))
        self.assertNotIn("x-amz-decoded-content-length", put)
        self.assertNotIn("expect", put)
        conn.close()

    def test_unsigned_trailer_aws_chunked(self):
        data = os.urandom(100000)
        key = f"{PREFIX}streams/trailer.ts"
        conn = http.client.HTTPConnection(f"127.0.0.1:{PROXY.port}", timeout=30)
        headers = {"Authorization": "AWS4-HMAC-SHA256 dummy", "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "Content-Encoding": "aws-chunked",
                   "x-amz-decoded-content-length": str(len(data)), "x-amz-trailer": "x-amz-checksum-crc32", "x-amz-sdk-checksum-algorithm": "CRC32"}
        body = chunked(data, 65536, signed=False, trailer=b"x-amz-checksum-crc32:AAAAAA==\r\n")
        self.assertEqual(self.put_raw(conn, key, body, headers)[0], 200)
        self.assertEqual(DIRECT.get_object(Bucket=BUCKET, Key=key)["Body"].read(), data)
        put = self.seen()[0]["headers"]
        for header in ("content-encoding", "x-amz-trailer", "x-amz-sdk-checksum-algorithm"):
            self.assertNotIn(header, put)
        bad = chunked(data, 65536, signed=False)[:-40] + b"zz\r\n\r\n"  # framing broken mid-body
        conn.close()
        conn = http.client.HTTPConnection(f"127.0.0.1:{PROXY.port}", timeout=30)
        status, answer = self.put_raw(conn, f"{PREFIX}streams/bad.ts", bad, headers)
        conn.close()
        self.assertEqual((status, b"<Code>IncompleteBody</Code>" in answer), (400, True))
        deadline = time.time() + 5
        while not [r for r in CAPTURE.seen if r["path"].endswith("bad.ts")] and time.time() < deadline:
            time.sleep(0.05)
        self.assertLess([r for r in self.seen() if r["path"].endswith("bad.ts")][0]["body"], len(data), "S3 saw the upload cut short")
        self.assertEqual(code(DIRECT.head_object, Bucket=BUCKET, Key=f"{PREFIX}streams/bad.ts"), ("404", 404))
        for declared in (len(data) + 10, len(data) - 10):  # well framed, but not the length it declared
            conn = http.client.HTTPConnection(f"127.0.0.1:{PROXY.port}", timeout=30)
            status, answer = self.put_raw(conn, f"{PREFIX}streams/short.ts", body, {**headers, "x-amz-decoded-content-length": str(declared)})
            conn.close()
            self.assertEqual((status, b"<Code>IncompleteBody</Code>" in answer), (400, True), declared)
        self.assertEqual(code(DIRECT.head_object, Bucket=BUCKET, Key=f"{PREFIX}streams/short.ts"), ("404", 404))
        # Chunk sizes int(x, 16) would take but aws-chunked has not ("-1" would read past the body).
        for size in (b"0x64", b" 64", b"+64"):
            odd = size + b"\r\n" + data[:100] + b"\r\n0\r\n\r\n"
            conn = http.client.HTTPConnection(f"127.0.0.1:{PROXY.port}", timeout=30)
            status, answer = self.put_raw(conn, f"{PREFIX}streams/odd.ts", odd,
                                          {**headers, "x-amz-decoded-content-length": "100"})
            conn.close()
            self.assertEqual((status, b"<Code>IncompleteBody</Code>" in answer), (400, True), size)
        self.assertEqual(code(DIRECT.head_object, Bucket=BUCKET, Key=f"{PREFIX}streams/odd.ts"), ("404", 404))

    def test_refused_outside_bucket_and_prefix(self):
        for fn, kwargs in ((S3.put_object, {"Bucket": OTHER, "Key": f"{PREFIX}x", "Body": b"x"}),
                           (S3.get_object, {"Bucket": OTHER, "Key": f"{PREFIX}x"}),
                           (S3.put_object, {"Bucket": BUCKET, "Key": "elsewhere/x", "Body": b"x"}),
                           (S3.put_object, {"Bucket": BUCKET, "Key": "recordings", "Body": b"x"}),
                           (S3.copy_object, {"Bucket": BUCKET, "Key": f"{PREFIX}copy", "CopySource": {"Bucket": OTHER, "Key": f"{PREFIX}x"}}),
                           (S3.list_buckets, {}), (S3.delete_bucket, {"Bucket": BUCKET}), (S3.get_bucket_policy, {"Bucket": BUCKET})):
            self.assertEqual(code(fn, **kwargs), ("AccessDenied", 403), (fn, kwargs))
        conn = http.client.HTTPConnection(f"127.0.0.1:{PROXY.port}", timeout=30)  # virtual-hosted style: no bucket in the path
        self.assertEqual(self.put_raw(conn, f"/{PREFIX}x", b"x", {"Host": f"{BUCKET}.localhost"})[0], 403)
        conn.close()
        self.assertEqual(self.seen(), [], "nothing refused reached S3")
        self.assertEqual(DIRECT.list_objects_v2(Bucket=OTHER).get("KeyCount"), 0)

    def test_log_names_requests_and_no_secret(self):
        S3.put_object(Bucket=BUCKET, Key=f"{PREFIX}log/x", Body=b"12345")
        time.sleep(0.2)
        self.assertTrue(any(re.fullmatch(rf"ams-s3-proxy: PUT {PREFIX}log/x 200 in=5 out=0", line) for line in PROXY.lines), PROXY.lines)
        log = "\n".join(PROXY.lines)
        for secret in (*IMDS.creds[1:], IMDS_TOKEN, "Signature=", DUMMY[1]):
            self.assertNotIn(secret, log)
        self.seen()


class ImdsCase(unittest.TestCase):
    def test_imds_down_answers_503(self):
        proxy = Proxy(CAPTURE.endpoint, f"http://127.0.0.1:{free_port()}")
        first = len(CAPTURE.seen)
        self.assertEqual(code(proxy.client().put_object, Bucket=BUCKET, Key=f"{PREFIX}x", Body=b"x"), ("ServiceUnavailable", 503))
        self.assertEqual(CAPTURE.seen[first:], [])
        time.sleep(0.2)
        self.assertTrue(any("error: IMDS" in line for line in proxy.lines), proxy.lines)

    def test_imds_without_a_role_answers_503(self):
        imds = FakeImds()
        imds.issue = lambda: '{"Code": "AssumeRoleUnauthorizedAccess"}'
        proxy = Proxy(CAPTURE.endpoint, imds.endpoint)
        self.assertEqual(code(proxy.client().head_bucket, Bucket=BUCKET), ("503", 503))

    def test_credentials_cached_then_refreshed_near_expiry(self):
        imds = FakeImds(lifetime_s=300 + 2)  # refreshed when less than 5 minutes remain: in 2 s
        proxy, case = Proxy(CAPTURE.endpoint, imds.endpoint), ProxyCase()
        s3, first = proxy.client(), len(CAPTURE.seen)
        s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}refresh", Body=b"1")
        s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}refresh")
        self.assertEqual(imds.fetches, 1, "cached")
        first_creds = imds.creds
        time.sleep(2.5)
        s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}refresh")
        self.assertEqual(imds.fetches, 2, "fetched again")
        seen = CAPTURE.seen[first:]
        for record, creds in zip(seen, (first_creds, first_creds, imds.creds)):
            case.assertSigned(record, creds)
        self.assertNotEqual(first_creds, imds.creds)

    def test_refuses_to_start_on_bad_settings(self):
        base = dict(AMS_S3_BUCKET=BUCKET, AMS_S3_REGION=REGION, AMS_S3_PREFIX=PREFIX, AMS_S3_LISTEN_PORT="8088")
        for change in ({"AMS_S3_BUCKET": ""}, {"AMS_S3_BUCKET": "Bad_Bucket"}, {"AMS_S3_REGION": "europe"}, {"AMS_S3_PREFIX": "recordings"},
                       {"AMS_S3_PREFIX": "/recordings/"}, {"AMS_S3_LISTEN_PORT": "70000"}, {"AMS_S3_LISTEN_PORT": "x"},
                       {"AMS_S3_UPSTREAM": "ftp://s3"}, {"AMS_IMDS_ENDPOINT": "http://169.254.169.254/latest"}):
            env = {k: v for k, v in {**os.environ, **base, **change}.items() if v != ""}
            done = subprocess.run([sys.executable, PROXY_SCRIPT], env=env, capture_output=True, text=True, timeout=10)
            self.assertNotEqual(done.returncode, 0, change)
            self.assertIn("ams-s3-proxy: error: ", done.stderr, change)
            self.assertIn(next(iter(change)), done.stderr, change)

    def test_upstream_default_follows_the_partition(self):
        sys.argv = sys.argv[:1]
        spec = {}
        with open(PROXY_SCRIPT) as f:
            exec(compile(f.read(), PROXY_SCRIPT, "exec"), spec)  # its __name__ is not __main__: nothing starts
        base = dict(AMS_S3_BUCKET=BUCKET, AMS_S3_PREFIX=PREFIX, AMS_S3_LISTEN_PORT="8088")
        self.assertEqual(spec["settings"]({**base, "AMS_S3_REGION": "eu-west-1"})[4].geturl(), "https://s3.eu-west-1.amazonaws.com")
        self.assertEqual(spec["settings"]({**base, "AMS_S3_REGION": "cn-north-1"})[4].geturl(), "https://s3.cn-north-1.amazonaws.com.cn")


if __name__ == "__main__":
    unittest.main(verbosity=2)
