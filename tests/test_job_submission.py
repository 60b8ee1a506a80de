"""`ray job submit ... -- rayrl train` against a real head started with `ray start --head`, token auth on.

The head is isolated from every other Ray on the machine (the session fixture in conftest.py, other people's
sessions): its own ports, its own --temp-dir (so no /tmp/ray/ray_current_cluster that a bare ray.init() would
find), its own token (RAY_AUTH_TOKEN, so ~/.ray is neither read nor written), and it is stopped by signalling only
the processes it started (`ray start --block` in a new session), never with `ray stop`, which would kill every
local Ray.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RAY = shutil.which("ray")
pytestmark = pytest.mark.skipif(RAY is None, reason="the `ray` CLI is not installed (pip install 'ray[default]')")

JOB_TIMEOUT_S = 180
PORT_FLAGS = ("--port", "--dashboard-port", "--ray-client-server-port", "--dashboard-agent-listen-port",
              "--dashboard-agent-grpc-port", "--runtime-env-agent-port", "--metrics-export-port",
              "--node-manager-port", "--object-manager-port")


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _our_pids(sid: int, marker: str) -> list[int]:
    """Processes of our head: its session ``sid`` (the head and what it spawned), plus those whose command line names
    our private directory ``marker`` (a job driver runs in a session of its own but gets --storage-path under it)."""
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()  # after "pid (comm)": state ppid pgrp sid
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if int(fields[3]) == sid or marker in cmdline:
            pids.append(int(proc.name))
    return [pid for pid in pids if pid != os.getpid()]


class Head:
    """A Ray head of our own: `ray start --head --block` in a new session, with token auth."""

    def __init__(self, tmp: Path, num_cpus: int):
        self.tmp = tmp
        ports = dict(zip(PORT_FLAGS, _free_ports(len(PORT_FLAGS))))
        self.dashboard = f"http://127.0.0.1:{ports['--dashboard-port']}"
        self.token = secrets.token_hex(32)
        env = {k: v for k, v in os.environ.items()
               if k not in ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS", "RAY_AUTH_TOKEN_PATH")}
        env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=self.token, RAY_USAGE_STATS_ENABLED="0")
        self.env = env  # what a job client needs: RAY_AUTH_MODE=token and the token
        self.submitted: list[str] = []
        cmd = [RAY, "start", "--head", "--block", "--num-cpus", str(num_cpus), "--num-gpus", "0", "--include-dashboard=true",
               "--temp-dir", str(tmp / "ray"), "--disable-usage-stats"]
        for flag, port in ports.items():
            cmd += [flag, str(port)]
        self.log = open(tmp / "head.log", "wb")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT, cwd=tmp,
                                     start_new_session=True)

    def ray(self, *args: str, token: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
        env = dict(self.env, RAY_AUTH_TOKEN=token) if token else self.env
        return subprocess.run([RAY, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout,
                              check=False)

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"ray start --head exited with {self.proc.returncode}:\n{self.head_log()}")
            if self.ray("job", "list", "--address", self.dashboard, timeout=30).returncode == 0:
                return
            time.sleep(2)
        pytest.fail(f"the job API at {self.dashboard} did not answer within {timeout:.0f}s:\n{self.head_log()}")

    def head_log(self) -> str:
        return (self.tmp / "head.log").read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        """Stop unfinished jobs, SIGTERM `ray start --block` (it shuts its node down), SIGKILL whatever is left."""
        sid = self.proc.pid
        for job in self.submitted if self.proc.poll() is None else ():
            try:
                self.ray("job", "stop", "--address", self.dashboard, "--no-wait", job, timeout=30)
            except subprocess.TimeoutExpired:
                pass
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        deadline = time.time() + 10
        while _our_pids(sid, str(self.tmp)) and time.time() < deadline:
            time.sleep(0.5)
        for pid in _our_pids(sid, str(self.tmp)):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc.poll() is None:
            self.proc.wait(timeout=10)
        self.log.close()


@contextlib.contextmanager
def running_head(num_cpus: int):
    tmp = Path(tempfile.mkdtemp(prefix="rayrl-job-", dir="/tmp"))  # short: Ray's unix sockets live under it
    h = Head(tmp, num_cpus)
    try:
        h.wait_ready()
        yield h
    finally:
        h.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def head():
    """A head with room for the default impala trial: 0.5 (trial) + 1 (learner) + 1 per rollout worker (one)."""
    with running_head(num_cpus=3) as h:
        yield h


@pytest.fixture
def small_head():
    """A head as `ray start --head` makes on a 2-core machine: too small for the default impala trial."""
    with running_head(num_cpus=2) as h:
        yield h


CHECK_DRIVER = """
import json, sys
from ray.job_submission import JobSubmissionClient
from ray.util.state import list_actors
address, sid = sys.argv[1:]
info = JobSubmissionClient(address).get_job_info(sid)
trainables = list_actors(address=address, filters=[("class_name", "=", "RayrlTrainable")], limit=100)
print(json.dumps({"job_id": info.job_id, "driver_node": info.driver_info and info.driver_info.node_ip_address,
                  "trainable_job_ids": [a.job_id for a in trainables]}))
"""


def wait_for_end(head: Head, sid: str, timeout: float) -> str:
    """The job's final `ray job status` text (or the last one seen, at the timeout)."""
    deadline = time.time() + timeout
    status = ""
    while time.time() < deadline:
        status = head.ray("job", "status", "--address", head.dashboard, sid).stdout
        # `ray job status` ends with "Job 'ID' succeeded" / "failed" / "was stopped", else "Status for job ...: RUNNING"
        if any(f"Job '{sid}' {end}" in status for end in ("succeeded", "failed", "was stopped")):
            head.submitted.remove(sid)  # ended: nothing to stop at teardown
            break
        time.sleep(2)
    return status


@pytest.mark.timeout(300)
def test_a_job_the_cluster_can_never_place_is_one_line_not_a_silent_wait(small_head: Head):
    sid = f"rayrl-test-{secrets.token_hex(4)}"
    small_head.submitted.append(sid)
    submit = small_head.ray("job", "submit", "--address", small_head.dashboard, "--working-dir", ".",
                            "--submission-id", sid, "--no-wait", "--", "rayrl", "train", "impala", "--env",
                            "CartPole-v1", "--storage-path", str(small_head.tmp / "results"), timeout=120)
    assert submit.returncode == 0, submit.stdout + submit.stderr
    submitted = time.time()
    status = wait_for_end(small_head, sid, timeout=60)
    waited = time.time() - submitted
    logs = small_head.ray("job", "logs", "--address", small_head.dashboard, sid).stdout
    assert f"Job '{sid}' failed" in status, f"job status:\n{status}\njob logs:\n{logs}"
    assert waited < 30, f"the error came after {waited:.0f}s:\n{logs}"
    errors = [line for line in logs.splitlines() if "error" in line.lower()]
    assert errors == [errors[0]] and errors[0].startswith("rayrl: error: the run needs 2.5 CPUs"), logs
    assert "the cluster has 2 CPUs" in errors[0] and "--set learner_cpus=0.75 worker_cpus=0.75" in errors[0], logs
    assert "Traceback" not in logs, logs


@pytest.mark.timeout(420)  # above the sum of its own limits: head start 120 s, job 180 s, teardown about 60 s
def test_job_submit_trains_on_the_running_head(head: Head, tmp_path: Path):
    # Token auth is on: a client without the token, or with a wrong one, is turned away.
    anon_env = {k: v for k, v in head.env.items() if not k.startswith("RAY_AUTH")}
    anon_env["HOME"] = str(tmp_path)  # no ~/.ray/auth_token either
    anon = subprocess.run([RAY, "job", "list", "--address", head.dashboard], env=anon_env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert anon.returncode != 0 and "Unauthorized" in anon.stdout + anon.stderr, anon.stdout + anon.stderr
    wrong = head.ray("job", "list", "--address", head.dashboard, token=secrets.token_hex(32))
    assert wrong.returncode != 0 and "invalid" in (wrong.stdout + wrong.stderr).lower()

    sid = f"rayrl-test-{secrets.token_hex(4)}"
    storage = head.tmp / "results"
    head.submitted.append(sid)
    submit = head.ray("job", "submit", "--address", head.dashboard, "--working-dir", ".", "--submission-id", sid,
                      "--no-wait", "--", "rayrl", "train", "impala", "--env", "CartPole-v1",
                      "--stop-timesteps", "20000", "--storage-path", str(storage), timeout=120)
    assert submit.returncode == 0, submit.stdout + submit.stderr

    status = wait_for_end(head, sid, JOB_TIMEOUT_S)
    logs = head.ray("job", "logs", "--address", head.dashboard, sid).stdout
    assert f"Job '{sid}' succeeded" in status, f"job status:\n{status}\njob logs:\n{logs}\nhead:\n{head.head_log()}"

    assert "rayrl: training impala on CartPole-v1" in logs, logs
    assert "steps/s" in logs, logs  # at least one progress line
    assert "rayrl: done after" in logs, logs
    assert list(storage.glob("impala_CartPole-v1_*/*/checkpoint_*")), logs

    # The driver joined this head ($RAY_ADDRESS from the job supervisor), not a Ray of its own: the head knows the
    # driver, and the trial actor ran here under the job's id.
    check = subprocess.run([sys.executable, "-c", CHECK_DRIVER, head.dashboard, sid], env=head.env,
                           capture_output=True, text=True, timeout=60, check=False)
    assert check.returncode == 0, check.stderr
    seen = json.loads(check.stdout.strip().splitlines()[-1])
    assert seen["driver_node"], seen
    assert seen["job_id"] in seen["trainable_job_ids"], seen
