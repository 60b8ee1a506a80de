"""The on-premise cluster path as a user runs it, against this machine: an SSH server on the loopback, a throwaway
user with a throwaway key, and a copy of cluster-onprem.yaml in which only the hosts, the SSH user and the key
differ. Then what docs/cluster.md tells users to run: `ray up -y`, `ray dashboard` (the launcher's SSH tunnel to
the job API), `ray job submit ... -- rayrl train impala`, `ray job logs`, `ray down -y`; and nothing of it left
running. The user's setup commands and `ray stop` touch only that user's files and processes.

Root runs it (it adds and removes the user); where sshd cannot start, it says so in one line and skips.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.cluster.polling import wait_for

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]
USER = "rayrl-ssh-test"
TUNNEL_PORT = 8266  # the head's job API is on 8265 of this same machine, so the tunnel's local end goes elsewhere
RAY = str(Path(sys.executable).parent / "ray")


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0



def user_processes() -> list[str]:
    found = subprocess.run(["pgrep", "-a", "-u", USER], capture_output=True, text=True)
    return found.stdout.splitlines()


def remove_user() -> None:
    subprocess.run(["pkill", "-KILL", "-u", USER], capture_output=True)
    wait_for(lambda: not user_processes(), timeout=10)
    subprocess.run(["userdel", "-r", USER], capture_output=True)


def uv_settings() -> str:
    """The package access this machine gives pip, for the user's uv: the system's CA store, and the local wheels
    that pip finds (PIP_FIND_LINKS: the torch wheel on disk), as a host's admin would set up a mirror."""
    lines = ["system-certs = true"]
    links = [link for link in os.environ.get("PIP_FIND_LINKS", "").split() if Path(link).is_dir()]
    if links:
        lines.append("find-links = [" + ", ".join(f'"{link}"' for link in links) + "]")
    return "\n".join(lines) + "\n"


@pytest.fixture
def ssh_login(tmp_path):
    """sshd on 127.0.0.1:22 (the launcher's SSH has no port setting) for a throwaway user; the user's key."""
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    if os.geteuid() != 0:
        pytest.skip("sshd cannot start: the SSH test needs root (it adds a throwaway user)")
    if not os.path.exists(sshd):
        pytest.skip("sshd cannot start: openssh-server is not installed (.ci/run installs it)")
    if port_open(22):
        pytest.skip("sshd cannot start: 127.0.0.1:22 is taken")
    remove_user()  # a run that was killed may have left it
    # Password "*": no password logs in, but the account is not locked ("!"), which sshd without PAM would refuse.
    subprocess.run(["useradd", "-m", "-s", "/bin/bash", "-p", "*", USER], check=True)
    try:
        account = pwd.getpwnam(USER)
        home = Path(account.pw_dir)
        key = tmp_path / "id_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        (home / ".ssh").mkdir(mode=0o700)
        (home / ".ssh" / "authorized_keys").write_text(key.with_suffix(".pub").read_text())
        (home / ".config" / "uv").mkdir(parents=True)
        (home / ".config" / "uv" / "uv.toml").write_text(uv_settings())
        subprocess.run(["chown", "-R", f"{USER}:{USER}", str(home)], check=True)
        host_key = tmp_path / "host_key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)], check=True)
        config = tmp_path / "sshd_config"
        config.write_text(f"ListenAddress 127.0.0.1:22\nHostKey {host_key}\nPidFile {tmp_path / 'sshd.pid'}\n"
                          f"AllowUsers {USER}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                          "UsePAM no\nPermitRootLogin no\nAllowTcpForwarding yes\n")
        Path("/run/sshd").mkdir(exist_ok=True)  # its privilege-separation directory
        server = subprocess.Popen([sshd, "-D", "-e", "-f", str(config)], stderr=subprocess.PIPE, text=True)
        if not wait_for(lambda: port_open(22) or server.poll() is not None, timeout=10) or server.poll() is not None:
            server.kill()
            last = (server.stderr.read().strip().splitlines() or ["no output"])[-1]
            pytest.skip(f"sshd cannot start: {last}")
        try:
            yield key
        finally:
            server.terminate()
            server.wait(timeout=10)
    finally:
        remove_user()


@pytest.mark.timeout(1200)  # ray up installs rayrl's dependencies for the user: minutes where nothing is cached
def test_ray_up_over_ssh_runs_a_submitted_job_and_ray_down_leaves_nothing(ssh_login, tmp_path, capsys):
    shipped = yaml.safe_load((REPO / "cluster-onprem.yaml").read_text())
    config = yaml.safe_load((REPO / "cluster-onprem.yaml").read_text())
    config["provider"].update(head_ip="127.0.0.1", worker_ips=[])
    config["auth"] = {"ssh_user": USER, "ssh_private_key": str(ssh_login)}
    assert {k: v for k, v in config.items() if k not in ("provider", "auth")} == \
           {k: v for k, v in shipped.items() if k not in ("provider", "auth")}
    cluster = tmp_path / "cluster.yaml"
    cluster.write_text(yaml.safe_dump(config))
    # The launcher's own ~ (its token, its caches) in tmp_path, not root's home; Ray's console colours off.
    env = {**os.environ, "HOME": str(tmp_path / "home"), "RAY_AUTH_MODE": "token", "TERM": "dumb"}
    (tmp_path / "home").mkdir()

    def ray(*args: str, timeout: float) -> subprocess.CompletedProcess:
        return subprocess.run([RAY, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)

    assert ray("get-auth-token", "--generate", timeout=60).returncode == 0
    tunnel = None
    try:
        start = time.time()
        up = ray("up", "-y", "--no-config-cache", str(cluster), timeout=600)
        up_seconds = time.time() - start
        assert up.returncode == 0, (up.stdout + up.stderr)[-4000:]
        # In a session of its own, so that the end can Ctrl-C it as a terminal would: ray dashboard and its ssh.
        tunnel = subprocess.Popen([RAY, "dashboard", "-p", str(TUNNEL_PORT), str(cluster)], cwd=REPO, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        assert wait_for(lambda: port_open(TUNNEL_PORT), timeout=60), "the launcher's tunnel did not open"
        address = f"http://127.0.0.1:{TUNNEL_PORT}"
        # The head is this 2-core machine: the trial shares CPUs, as the one-line error on a small head advises.
        submit = ray("job", "submit", "--address", address, "--working-dir", ".", "--", "rayrl", "train",
                     "impala", "--env", "CartPole-v1", "--stop-seconds", "20",
                     "--set", "learner_cpus=0.75", "worker_cpus=0.75", timeout=600)
        assert submit.returncode == 0, (submit.stdout + submit.stderr)[-4000:]
        job_id = re.search(r"raysubmit_\w+", submit.stdout).group(0)
        logs = ray("job", "logs", "--address", address, job_id, timeout=60)
        assert re.search(r"rayrl: done after [\d.]+s: [\d,]+ env steps", logs.stdout), logs.stdout[-3000:]
        status = ray("job", "status", "--address", address, job_id, timeout=60)
        assert f"Job '{job_id}' succeeded" in status.stdout, status.stdout
        with capsys.disabled():
            done = re.search(r"rayrl: done after .*", logs.stdout).group(0)
            print(f"\nray up over SSH: {up_seconds:.0f}s; job {job_id} through the tunnel: {done}")
    finally:
        if tunnel is not None:
            os.killpg(tunnel.pid, signal.SIGINT)
            tunnel.wait(timeout=10)
        down = ray("down", "-y", str(cluster), timeout=300)
    assert down.returncode == 0, (down.stdout + down.stderr)[-3000:]
    # Nothing of it left running: the user's own processes (Ray's included) end with `ray down`.
    assert wait_for(lambda: not user_processes(), timeout=30), user_processes()
