"""``--multus-master-cni-file-name`` pins the primary CNI config, whatever sorts first.

``05-cilium.conflist`` sorts before the real primary ``10-calico.conflist``.
The pinned file must be used, an absolute value must not be joined to the
directory a second time, and a pinned file that does not exist must never
make the supervisor fall back to another file.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from tests.support import (
    CASES,
    COMMON,
    QUIET_SECONDS,
    STEADY_MARK,
    FilePoller,
    Node,
    atomic_write,
    create_case_node,
    log_count,
    plugin_types,
    wait_log_count,
    wait_until,
)

LATER = CASES / "master-file-name"
INPUTS = {
    "05-cilium.conflist": COMMON / "05-cilium.conflist",
    "10-calico.conflist": COMMON / "10-calico.conflist",
    "20-other.conflist": LATER / "20-other.conflist",
}
#: Plugin types of the files that must never be delegated to.
OTHER_TYPES = {"cilium-cni", "bridge"}
PINNED_NOT_FOUND = "configured primary CNI config not found"


def create_node(root: Path) -> Node:
    node = create_case_node(root)
    for name, source in INPUTS.items():
        shutil.copy(source, node.conf / name)
    return node


@pytest.fixture
def node(tmp_path: Path) -> Node:
    return create_node(tmp_path / "node")


def flags(node: Node, master: str, *extra: str) -> list[str]:
    return node.flags(
        "--multus-conf-file=auto",
        "--skip-multus-binary-copy=true",
        "--cleanup-config-on-exit=true",
        f"--multus-master-cni-file-name={master}",
        *extra,
    )


def delegate_mtu(node: Node) -> int | None:
    try:
        config = json.loads(node.multus_conf.read_bytes())
    except (FileNotFoundError, ValueError):
        return None
    return config["delegates"][0]["plugins"][0].get("mtu")


def file_identity(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_ino


def test_pinned_master_wins_over_first_file(node, start_supervisor):
    supervisor = start_supervisor(*flags(node, "10-calico.conflist"))
    assert supervisor.wait_log(STEADY_MARK)

    config = json.loads(node.multus_conf.read_bytes())

    assert config["delegates"][0]["name"] == "k8s-pod-network"
    assert config["delegates"][0]["plugins"][0]["type"] == "calico"
    assert config["delegates"][0]["plugins"][0]["mtu"] == 1450
    assert plugin_types(config) & OTHER_TYPES == set()


def test_other_file_change_causes_no_rewrite(node, start_supervisor):
    supervisor = start_supervisor(*flags(node, "10-calico.conflist", "--log-level=debug"))
    assert supervisor.wait_log(STEADY_MARK)
    before = node.multus_conf.stat()
    content = node.multus_conf.read_bytes()
    renders = log_count(supervisor, STEADY_MARK)

    atomic_write(node.conf / "05-cilium.conflist", (LATER / "05-cilium.conflist.v2").read_bytes())
    assert wait_log_count(supervisor, STEADY_MARK, renders + 1)
    time.sleep(QUIET_SECONDS)
    after = node.multus_conf.stat()

    assert node.multus_conf.read_bytes() == content
    assert after.st_ino == before.st_ino
    assert after.st_mtime_ns == before.st_mtime_ns


def test_pinned_master_change_rewrites_config(node, start_supervisor):
    supervisor = start_supervisor(*flags(node, "10-calico.conflist"))
    assert supervisor.wait_log(STEADY_MARK)

    atomic_write(node.conf / "10-calico.conflist", (LATER / "10-calico.conflist.v2").read_bytes())

    assert wait_until(lambda: delegate_mtu(node) == 1400)


def test_inputs_never_modified(node, start_supervisor):
    supervisor = start_supervisor(*flags(node, "10-calico.conflist"))
    assert supervisor.wait_log(STEADY_MARK)
    atomic_write(node.conf / "05-cilium.conflist", (LATER / "05-cilium.conflist.v2").read_bytes())
    atomic_write(node.conf / "10-calico.conflist", (LATER / "10-calico.conflist.v2").read_bytes())
    expected = {name: file_identity(node.conf / name) for name in INPUTS}
    assert wait_until(lambda: delegate_mtu(node) == 1400)
    time.sleep(QUIET_SECONDS)

    assert supervisor.stop() == 0

    for name in INPUTS:
        assert file_identity(node.conf / name) == expected[name], name


def test_absolute_pin_matches_relative_pin(tmp_path, start_supervisor):
    relative = create_node(tmp_path / "relative")
    absolute = create_node(tmp_path / "absolute")
    pinned = absolute.conf / "10-calico.conflist"

    first = start_supervisor(*flags(relative, "10-calico.conflist"))
    second = start_supervisor(*flags(absolute, str(pinned)))
    assert first.wait_log(STEADY_MARK)
    assert second.wait_log(STEADY_MARK)

    assert absolute.multus_conf.read_bytes() == relative.multus_conf.read_bytes()


def test_absolute_pin_never_doubles_directory(node, start_supervisor):
    directory = str(node.conf)

    supervisor = start_supervisor(*flags(node, str(node.conf / "10-calico.conflist")))
    assert supervisor.wait_log(STEADY_MARK)
    log = supervisor.log()

    assert directory + directory not in log
    assert directory + "/" + directory not in log


def test_missing_pin_never_falls_back(node, start_supervisor):
    missing = node.conf / "10-missing.conflist"
    outputs = (node.multus_conf, node.multus_conflist)
    inputs_before = {name: file_identity(node.conf / name) for name in INPUTS}

    with FilePoller(outputs) as poller:
        supervisor = start_supervisor(*flags(node, "10-missing.conflist"))
        assert supervisor.wait_log(PINNED_NOT_FOUND)
        # An event in the directory makes the supervisor select again.
        (node.conf / "30-late.conflist").write_bytes(INPUTS["20-other.conflist"].read_bytes())
        time.sleep(QUIET_SECONDS)
    log = supervisor.log()

    assert supervisor.running() or supervisor.process.returncode != 0
    assert [content for content in poller.seen(node.multus_conf) if content is not None] == []
    assert [content for content in poller.seen(node.multus_conflist) if content is not None] == []
    assert log.count(PINNED_NOT_FOUND) == 1
    assert log.count(str(missing)) == 1
    assert "Using primary CNI config" not in log
    assert "Traceback" not in log
    for name in INPUTS:
        assert file_identity(node.conf / name) == inputs_before[name], name


def test_missing_pin_used_once_created(node, start_supervisor):
    supervisor = start_supervisor(*flags(node, "10-missing.conflist"))
    assert supervisor.wait_log(PINNED_NOT_FOUND)

    atomic_write(node.conf / "10-missing.conflist", (LATER / "10-calico.conflist.v2").read_bytes())

    assert wait_until(lambda: delegate_mtu(node) == 1400)
