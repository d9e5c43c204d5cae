"""The multus config declares the union of the capabilities of the primary config's plugins.

A container runtime passes runtimeConfig (host port mappings, bandwidth
limits) only for capabilities declared at the top level of the config it
loads, and it never looks inside "delegates". Without the union, hostPort
stops working for every pod once Multus is installed. For a ``.conf`` the
capabilities are a top-level key; for a ``.conflist`` they belong to the
multus plugin, ``plugins[0]``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.support import CASES, STEADY_MARK, Node, create_case_node

CASE = CASES / "capabilities"
BANDWIDTH_AND_PORTMAP = CASE / "bandwidth-portmap" / "10-calico.conflist"
NO_CAPABILITIES = CASE / "no-capabilities" / "10-calico.conflist"
CNI_1_0_0 = CASE / "cni-1.0.0" / "10-calico.conflist"
UNION = {"bandwidth": True, "portMappings": True}


def run_until_steady(tmp_path: Path, start_supervisor, master: Path) -> Node:
    """Install *master* as the node's only CNI config and wait until the supervisor's files are current."""
    node = create_case_node(tmp_path / "node")
    shutil.copy(master, node.conf)
    supervisor = start_supervisor(*node.flags("--multus-conf-file=auto"))
    assert supervisor.wait_log(STEADY_MARK), supervisor.log()
    assert "Traceback" not in supervisor.log()
    return node


def test_conf_declares_plugin_capabilities(tmp_path, start_supervisor):
    node = run_until_steady(tmp_path, start_supervisor, BANDWIDTH_AND_PORTMAP)

    config = json.loads(node.multus_conf.read_bytes())

    assert config["capabilities"] == UNION
    assert config["delegates"][0] == json.loads(BANDWIDTH_AND_PORTMAP.read_bytes())
    assert (node.conf / "10-calico.conflist").read_bytes() == BANDWIDTH_AND_PORTMAP.read_bytes()


def test_conf_omits_empty_capabilities(tmp_path, start_supervisor):
    node = run_until_steady(tmp_path, start_supervisor, NO_CAPABILITIES)

    config = json.loads(node.multus_conf.read_bytes())

    assert "capabilities" not in config
    assert config["delegates"][0] == json.loads(NO_CAPABILITIES.read_bytes())
    assert (node.conf / "10-calico.conflist").read_bytes() == NO_CAPABILITIES.read_bytes()


def test_conflist_declares_plugin_capabilities(tmp_path, start_supervisor):
    node = run_until_steady(tmp_path, start_supervisor, CNI_1_0_0)

    config = json.loads(node.multus_conflist.read_bytes())
    multus = config["plugins"][0]

    assert config["cniVersion"] == "1.0.0"
    assert multus["type"] == "multus"
    assert multus["capabilities"] == UNION
    assert "capabilities" not in config
    assert multus["delegates"][0] == json.loads(CNI_1_0_0.read_bytes())
    assert not node.multus_conf.exists()
    assert (node.conf / "10-calico.conflist").read_bytes() == CNI_1_0_0.read_bytes()
