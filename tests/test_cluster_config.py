"""cluster.yaml and cluster-onprem.yaml pass the checks `ray up` runs before it starts anything, and keep the
dashboard / job API off the internet. Offline: no cloud is contacted (the AWS client factories are made to fail)."""

from __future__ import annotations

import copy
import ipaddress
from pathlib import Path

import pytest
import yaml

pytest.importorskip("jsonschema")  # Ray's validator needs it (ray[default] brings it)
from ray.autoscaler._private import commands
from ray.autoscaler._private.util import prepare_config, validate_config

REPO = Path(__file__).resolve().parents[1]
AWS = REPO / "cluster.yaml"
ONPREM = REPO / "cluster-onprem.yaml"
PRIVATE_PORTS = (8265, 10001, 6379)  # dashboard + job API, Ray Client, GCS
GPU_INSTANCE_FAMILIES = ("p3", "p4", "p5", "g4dn", "g5", "g6", "g6e")


def load(path: Path) -> dict:
    with open(path) as f:
        return yaml.safe_load(f)


def as_ray_up(config: dict) -> dict:
    """What `ray up` does to a config before touching a provider: fill defaults, then validate against the schema."""
    prepared = prepare_config(copy.deepcopy(config))
    validate_config(prepared)
    return prepared


@pytest.fixture
def no_cloud(monkeypatch):
    """Any attempt to build an AWS client fails the test instead of reaching the network."""
    from ray.autoscaler._private.aws import config as aws_config

    def refuse(*args, **kwargs):
        raise AssertionError("the test tried to contact AWS")

    monkeypatch.setattr(aws_config, "_resource", refuse)
    monkeypatch.setattr(aws_config, "_client", refuse)
    return aws_config


def _opens_to_world(rule: dict) -> bool:
    ranges = [r.get("CidrIp", "") for r in rule.get("IpRanges", [])] + \
             [r.get("CidrIpv6", "") for r in rule.get("Ipv6Ranges", [])]
    return any(c and ipaddress.ip_network(c, strict=False).prefixlen == 0 for c in ranges)


def _covers(rule: dict, port: int) -> bool:
    if rule.get("IpProtocol") == "-1":
        return True
    return rule.get("FromPort", 0) <= port <= rule.get("ToPort", 65535)


@pytest.mark.parametrize("path", [AWS, ONPREM], ids=lambda p: p.name)
def test_passes_ray_up_validation(path: Path):
    prepared = as_ray_up(load(path))
    assert prepared["head_node_type"] in prepared["available_node_types"]


def test_aws_head_is_a_gpu_node_and_workers_autoscale():
    prepared = as_ray_up(load(AWS))
    assert prepared["provider"]["type"] == "aws"
    types = prepared["available_node_types"]
    head = types[prepared["head_node_type"]]
    assert head["node_config"]["InstanceType"].split(".")[0] in GPU_INSTANCE_FAMILIES
    assert head["resources"].get("GPU", 0) >= 1
    workers = {name: t for name, t in types.items() if name != prepared["head_node_type"]}
    assert workers
    for t in workers.values():
        assert "GPU" not in t["resources"] and t["resources"]["CPU"] >= 2
        assert 0 == t["min_workers"] < t["max_workers"] <= prepared["max_workers"]


def test_aws_opens_nothing_but_ssh_and_never_to_the_world(no_cloud):
    config = load(AWS)
    prepared = as_ray_up(config)
    # No launcher-created security group (its default rules open SSH to 0.0.0.0/0): every node type names its own.
    for name, t in prepared["available_node_types"].items():
        assert t["node_config"].get("SecurityGroupIds"), f"{name}: no SecurityGroupIds"
    # Ray's own bootstrap step then leaves the groups alone (and asks AWS nothing, see no_cloud).
    before = copy.deepcopy(prepared["available_node_types"])
    assert no_cloud._configure_security_group(prepared)["available_node_types"] == before
    # Should someone add extra rules, none may open the dashboard, Ray Client or GCS to the internet.
    for rule in config["provider"].get("security_group", {}).get("IpPermissions", []):
        for port in PRIVATE_PORTS:
            assert not (_covers(rule, port) and _opens_to_world(rule)), rule


@pytest.mark.parametrize("path", [AWS, ONPREM], ids=lambda p: p.name)
def test_dashboard_on_loopback_and_token_auth_everywhere(path: Path):
    prepared = as_ray_up(load(path))
    head_start = " ".join(prepared["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head_start and "0.0.0.0" not in head_start
    for cmds in (prepared["head_start_ray_commands"], prepared["worker_start_ray_commands"]):
        starts = [c for c in cmds if "ray start" in c]
        assert starts and all("RAY_AUTH_MODE=token" in c for c in starts), cmds
    # The token file reaches every node.
    assert "~/.ray/auth_token" in prepared["file_mounts"]


def test_onprem_is_the_local_provider_and_bootstraps_offline(tmp_path, monkeypatch):
    config = load(ONPREM)
    assert config["provider"]["type"] == "local"
    assert config["provider"]["head_ip"] and config["provider"]["worker_ips"]
    # The whole pre-start path of `ray up` for the local provider (prepare, resources, validate, bootstrap) runs
    # offline; keep its config cache out of /tmp.
    monkeypatch.setattr(commands.tempfile, "gettempdir", lambda: str(tmp_path))
    resolved = commands._bootstrap_config(copy.deepcopy(config), no_config_cache=True)
    node_type = resolved["available_node_types"][resolved["head_node_type"]]
    assert node_type["max_workers"] == len(config["provider"]["worker_ips"])


def test_aws_nodes_set_up_as_the_ssh_test_sets_up_its_host():
    """tests/cluster/test_onprem_ssh.py runs cluster-onprem.yaml's setup commands with `ray up`; AWS nodes run the
    same ones, with the same checkout copied to ~/rayrl."""
    aws, onprem = load(AWS), load(ONPREM)
    assert aws["setup_commands"] == onprem["setup_commands"]
    assert aws["file_mounts"] == onprem["file_mounts"] and aws["file_mounts"]["~/rayrl"] == "."
    assert aws["rsync_filter"] == onprem["rsync_filter"] == [".gitignore"]
