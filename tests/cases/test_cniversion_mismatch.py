"""The generated config's cniVersion agrees with the primary config, and is never missing.

``--cni-version`` pins the version of the generated config. A primary config
with another version is an error that names both versions and the file, and
nothing is written, because a 0.x wrapper around a 1.x delegate makes every pod fail
with an unsupported result version. A primary config without cniVersion is an
error unless ``--cni-version`` gives one, and then the delegate gets it too,
because runtimes require it on a config list.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from tests.support import (
    CASES,
    QUIET_SECONDS,
    STEADY_MARK,
    Node,
    SupervisorProcess,
    create_case_node,
    first_log_line,
    temporary_files,
)

CASE = CASES / "cni-version"
OVN_0_4_0 = CASE / "ovn-0.4.0" / "10-ovn-kubernetes.conf"
FLANNEL_NO_VERSION = CASE / "no-version" / "10-flannel.conflist"
FLANNEL_1_0_0 = CASE / "flannel-1.0.0" / "10-flannel.conflist"


def start_with_master(tmp_path: Path, start_supervisor, master: Path, *extra: str) -> tuple[Node, SupervisorProcess]:
    node = create_case_node(tmp_path / "node")
    shutil.copy(master, node.conf)
    supervisor = start_supervisor(*node.flags("--multus-conf-file=auto", *extra))
    return node, supervisor


def assert_nothing_written(node: Node, supervisor: SupervisorProcess, master: Path) -> None:
    """Watch for QUIET_SECONDS, then assert that the directory still contains only *master*."""
    time.sleep(QUIET_SECONDS)
    assert not node.multus_conf.exists()
    assert not node.multus_conflist.exists()
    assert temporary_files(node.conf) == []
    assert (node.conf / master.name).read_bytes() == master.read_bytes()
    # Waiting for a better input and exiting with an error are both correct.
    status = supervisor.process.poll()
    assert status is None or status != 0
    assert "Traceback" not in supervisor.log()


@pytest.mark.parametrize(
    ("master", "found"),
    [(OVN_0_4_0, "0.4.0"), (FLANNEL_1_0_0, "1.0.0")],
    ids=["master-0.4.0", "master-1.0.0"],
)
def test_pinned_version_mismatch_rejected(tmp_path, start_supervisor, master, found):
    node, supervisor = start_with_master(tmp_path, start_supervisor, master, "--cni-version=0.3.1")

    assert supervisor.wait_log("CNI version mismatch"), supervisor.log()
    error = first_log_line(supervisor, "CNI version mismatch")

    assert "0.3.1" in error
    assert found in error
    assert master.name in error
    assert_nothing_written(node, supervisor, master)


def test_master_version_used(tmp_path, start_supervisor):
    node, supervisor = start_with_master(tmp_path, start_supervisor, OVN_0_4_0)

    assert supervisor.wait_log(STEADY_MARK), supervisor.log()
    config = json.loads(node.multus_conf.read_bytes())

    assert config["cniVersion"] == "0.4.0"
    assert config["delegates"][0]["cniVersion"] == "0.4.0"
    assert not node.multus_conflist.exists()


def test_missing_version_rejected(tmp_path, start_supervisor):
    node, supervisor = start_with_master(tmp_path, start_supervisor, FLANNEL_NO_VERSION)

    assert supervisor.wait_log("master CNI config has no cniVersion"), supervisor.log()
    error = first_log_line(supervisor, "master CNI config has no cniVersion")

    assert FLANNEL_NO_VERSION.name in error
    assert "--cni-version" in error
    assert_nothing_written(node, supervisor, FLANNEL_NO_VERSION)


def test_missing_version_taken_from_flag(tmp_path, start_supervisor):
    node, supervisor = start_with_master(tmp_path, start_supervisor, FLANNEL_NO_VERSION, "--cni-version=0.3.1")

    assert supervisor.wait_log(STEADY_MARK), supervisor.log()
    config = json.loads(node.multus_conf.read_bytes())

    assert config["cniVersion"] == "0.3.1"
    assert config["delegates"][0]["cniVersion"] == "0.3.1"
    assert config["delegates"][0]["plugins"] == json.loads(FLANNEL_NO_VERSION.read_bytes())["plugins"]
    assert (node.conf / FLANNEL_NO_VERSION.name).read_bytes() == FLANNEL_NO_VERSION.read_bytes()
