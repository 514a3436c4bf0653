"""What the proxy's own tests share (test_strict.py, test_scaling.py, test_ec2_rules.py,
test_dlm.py): processes that print their loopback address (moto, the proxy), started and stopped,
the error a call gets, a careful retry and a wait.

Standard library only, plus botocore (which moto brings) for `refusal`.
"""

import os
import subprocess
import sys
import threading
import time

from botocore.exceptions import ClientError

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
VENV = os.path.join(REPO, ".venv", "bin")
PROCESSES = []
PROBLEMS = []  # lines where a proxy reports a rule or a record that failed


def drain(stream, found, lock):
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", "replace")
        with lock:
            if "http://127.0.0.1:" in line and not found:
                found.append(line[line.index("http://127.0.0.1:") :].split()[0])
            if line.startswith("faultproxy:") and "failed" in line:
                PROBLEMS.append(line.strip())
            elif "Traceback" in line:
                sys.stderr.write(line)


def spawn(args, env=None):
    """Start a process that prints its loopback address; return the address. Keeps reading its output."""
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    PROCESSES.append(process)
    found, lock = [], threading.Lock()
    threading.Thread(target=drain, args=(process.stdout, found, lock), daemon=True).start()
    deadline = time.time() + 30
    while time.time() < deadline:
        with lock:
            if found:
                return found[0]
        if process.poll() is not None:
            raise RuntimeError(f"{args[0]} exited with {process.returncode}")
        time.sleep(0.02)
    raise RuntimeError(f"{args[0]} printed no address")


def start_proxy(upstream, *args):
    return spawn([sys.executable, os.path.join(HERE, "faultproxy.py"), "--listen", "0", "--upstream", upstream, *args])


def refusal(fn, **kwargs):
    """The error (code, message, HTTP status) a call gets, or None if it succeeds."""
    try:
        fn(**kwargs)
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["Error"].get("Message", ""), e.response["ResponseMetadata"]["HTTPStatusCode"]
    return None


def retry(fn, codes, timeout=15, **kwargs):
    """What a careful tool does: retry while AWS answers one of these codes. Returns (result, attempts)."""
    deadline, attempts = time.time() + timeout, 0
    while True:
        attempts += 1
        try:
            return fn(**kwargs), attempts
        except ClientError as e:
            if e.response["Error"]["Code"] not in codes or time.time() > deadline:
                raise
        time.sleep(0.1)


def wait_for(check, timeout=15):
    """Waits until check() holds; an AssertionError after timeout seconds."""
    deadline = time.time() + timeout
    while not check():
        if time.time() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.05)


def stop_all():
    """Stops every process `spawn` started (tearDownModule)."""
    for process in PROCESSES:
        process.terminate()
    for process in PROCESSES:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()
