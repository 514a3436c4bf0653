"""Fresh emulators for the integration tests, started in milliseconds instead of seconds.

Importing moto and the proxy costs each Python process about two seconds of CPU, and the tests
start some fifty of them. This process imports them once (with moto's repairs of
scripts/emulator/moto_server.py applied, and the apps of the services ams-stack calls built), then
forks a new process for each server a test asks for: every test still gets its own moto and its
own proxy, sharing nothing with another test (a forked process holds its own copy of everything),
each as fresh as one started from nothing. The tests' harness (tests/support/mod.rs) starts one
of these per test binary and talks to it over stdin and stdout, one line each way:

    moto ID [noseed]     -> ID PID http://127.0.0.1:PORT   (a moto; seeded as seed.py seeds it)
    proxy ID ARGS...     -> ID PID http://127.0.0.1:PORT   (faultproxy.py ARGS...)
    stop PID             -> (nothing: that server is killed)

moto's log of each request goes to stderr with AMS_TEST_MOTO_LOG=1 (its errors always do). When
stdin closes (the test binary ended, however it ended), every server still running is killed
and this process exits; a server whose parent is gone exits within a second by itself.

Settings moto reads when it is imported (MOTO_AMIS_PATH, MOTO_ACM_VALIDATION_WAIT, ...) are taken
from this process's environment, as moto_server.py takes them.
"""

import logging
import os
import signal
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "faultproxy")]

import moto_server  # noqa: E402,F401  (its repairs are applied on import)
import seed  # noqa: E402
from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server  # noqa: E402

import cloud  # noqa: E402,F401  (the strict cloud, which faultproxy.py imports when asked)
import faultproxy  # noqa: E402

# The services ams-stack calls (moto's DLM is the proxy's): their apps built once, here.
SERVICES = [
    "acm",
    "autoscaling",
    "cloudformation",
    "ec2",
    "elbv2",
    "iam",
    "route53",
    "s3",
    "ssm",
    "sts",
]
# As `moto_server -p 0` sets it.
os.environ.setdefault("MOTO_PORT", "0")
APP = DomainDispatcherApplication(create_backend_app)
APP.debug = True
for service in SERVICES:
    APP.app_instances[service] = create_backend_app(service)


def exit_with(parent):
    """Ends this server when the process that forked it is gone."""
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)


def answer(request_id, endpoint):
    os.write(1, f"{request_id} {os.getpid()} {endpoint}\n".encode())


def serve_moto(request_id, seeded):
    # moto's log of every request only when asked (AMS_TEST_MOTO_LOG=1); its errors always.
    if not os.environ.get("AMS_TEST_MOTO_LOG"):
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = make_server("127.0.0.1", 0, APP, threaded=True, request_handler=MotoRequestHandler)
    endpoint = f"http://127.0.0.1:{server.server_port}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    if seeded:
        seed.seed(endpoint)
    answer(request_id, endpoint)


class Banner:
    """faultproxy.py's stdout: its banner line becomes the answer to the request."""

    def __init__(self, request_id):
        self.request_id = request_id

    def write(self, text):
        for line in text.splitlines():
            if "http://127.0.0.1:" in line:
                answer(self.request_id, line.rsplit(" ", 1)[-1])
        return len(text)

    def flush(self):
        pass


def serve_proxy(request_id, args):
    sys.argv = ["faultproxy.py", *args]
    sys.stdout = Banner(request_id)
    faultproxy.main()


def fork(parent, serve):
    pid = os.fork()
    if pid:
        return pid
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        threading.Thread(target=exit_with, args=(parent,), daemon=True).start()
        serve()
        while True:
            time.sleep(3600)
    except BaseException as e:  # noqa: BLE001 (whatever ended the server ends its process)
        if not isinstance(e, SystemExit):
            print(f"forks.py: a server failed: {e!r}", file=sys.stderr, flush=True)
        os._exit(1)


def main():
    # Servers that end are reaped by the system.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    me = os.getpid()
    running = set()
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "moto" and len(words) >= 2:
            request_id, seeded = words[1], "noseed" not in words[2:]
            running.add(fork(me, lambda: serve_moto(request_id, seeded)))
        elif words[0] == "proxy" and len(words) >= 2:
            request_id, args = words[1], words[2:]
            running.add(fork(me, lambda: serve_proxy(request_id, args)))
        elif words[0] == "stop" and len(words) == 2:
            pid = int(words[1])
            if pid in running:
                running.discard(pid)
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        else:
            print(f"forks.py: not understood: {line.strip()}", file=sys.stderr, flush=True)
    for pid in running:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


if __name__ == "__main__":
    main()
