"""A restart over a leftover, already nested Multus config must wrap the primary CNI config.

The leftover ``00-multus.conf`` wraps a Multus config around calico, as an
older entrypoint left it after taking its own output as the primary config.
Every start must replace it by one layer around ``10-calico.conflist``, and a
restart must reproduce the same file instead of wrapping its own output again.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.support import (
    CASES,
    COMMON,
    STEADY_MARK,
    Node,
    create_case_node,
    kubeconfig_value,
)

LEFTOVER = CASES / "self-delegation"
CALICO = COMMON / "10-calico.conflist"
TOKEN = (COMMON / "sa" / "token").read_text()
OLD_TOKEN = "token-OLD-9999999999999999"
MULTUS_TYPES = {"multus", "multus-shim"}
MULTUS_KEYS = ("delegates", "clusterNetwork")


@pytest.fixture
def node(tmp_path: Path) -> Node:
    node = create_case_node(tmp_path / "node")
    shutil.copytree(LEFTOVER, node.conf, dirs_exist_ok=True)
    shutil.copy(CALICO, node.conf)
    return node


def flags(node: Node) -> list[str]:
    return node.flags("--multus-conf-file=auto", "--skip-multus-binary-copy=true")


def nested_multus_objects(value: Any, where: str = "delegates") -> list[str]:
    """Return the JSON path of every Multus config found anywhere inside *value*."""
    found = []
    if isinstance(value, dict):
        if value.get("type") in MULTUS_TYPES or any(key in value for key in MULTUS_KEYS):
            found.append(where)
        for key, item in value.items():
            found += nested_multus_objects(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += nested_multus_objects(item, f"{where}[{index}]")
    return found


def run_once(node: Node, start_supervisor) -> bytes:
    """Start the supervisor, wait until its files are current, stop it and return 00-multus.conf."""
    supervisor = start_supervisor(*flags(node))
    assert supervisor.wait_log(STEADY_MARK)
    assert supervisor.stop() == 0
    return node.multus_conf.read_bytes()


def test_leftover_replaced_by_one_layer(node, start_supervisor):
    calico_before = CALICO.read_bytes()

    config = json.loads(run_once(node, start_supervisor))

    assert config["type"] == "multus"
    assert config["name"] == "multus-cni-network"
    assert config["cniVersion"] == "0.3.1"
    assert config["kubeconfig"] == "/etc/cni/net.d/multus.d/multus.kubeconfig"
    assert config["capabilities"] == {"portMappings": True}
    assert len(config["delegates"]) == 1
    assert config["delegates"][0]["name"] == "k8s-pod-network"
    assert config["delegates"][0]["plugins"][0]["type"] == "calico"
    assert config["delegates"][0] == json.loads(calico_before)
    assert nested_multus_objects(config["delegates"]) == []
    assert (node.conf / "10-calico.conflist").read_bytes() == calico_before


def test_leftover_kubeconfig_gets_current_token(node, start_supervisor):
    run_once(node, start_supervisor)

    kubeconfig = node.kubeconfig.read_text()
    assert kubeconfig_value(kubeconfig, "token") == TOKEN
    assert OLD_TOKEN not in kubeconfig


def test_restart_reproduces_same_config(node, start_supervisor):
    first = run_once(node, start_supervisor)
    second = run_once(node, start_supervisor)

    assert json.loads(second) == json.loads(first)
    assert second == first
    assert len(second) <= len(first)
    assert nested_multus_objects(json.loads(second)["delegates"]) == []


def multus_conflist_around_calico() -> dict[str, Any]:
    return {
        "cniVersion": "1.0.0",
        "name": "multus-cni-network",
        "plugins": [
            {
                "type": "multus-shim",
                "kubeconfig": "/etc/cni/net.d/multus.d/multus.kubeconfig",
                "delegates": [json.loads(CALICO.read_text())],
            }
        ],
    }


#: Multus configs under names that sort before 10-calico.conflist and do not
#: start with 00-multus.conf, so only their content shows what they are.
FOREIGN_MULTUS_CONFIGS = [
    pytest.param("01-multus-backup.conf", (LEFTOVER / "00-multus.conf").read_text(), id="multus-conf"),
    pytest.param("05-multus-shim.conflist", json.dumps(multus_conflist_around_calico()), id="shim-conflist"),
]


@pytest.mark.parametrize(("name", "content"), FOREIGN_MULTUS_CONFIGS)
def test_multus_config_under_other_name_skipped(node, start_supervisor, name, content):
    foreign = node.conf / name
    foreign.write_text(content)

    supervisor = start_supervisor(*flags(node))
    assert supervisor.wait_log(STEADY_MARK)
    config = json.loads(node.multus_conf.read_bytes())

    assert config["delegates"][0] == json.loads(CALICO.read_text())
    assert nested_multus_objects(config["delegates"]) == []
    assert foreign.read_text() == content


@pytest.mark.parametrize(("name", "content"), FOREIGN_MULTUS_CONFIGS)
def test_skipped_multus_config_logs_warning(node, start_supervisor, name, content):
    foreign = node.conf / name
    foreign.write_text(content)

    supervisor = start_supervisor(*flags(node))
    assert supervisor.wait_log(STEADY_MARK)
    warnings = [line for line in supervisor.log().splitlines() if " WARNING " in line]

    assert [line for line in warnings if str(foreign) in line] != []
