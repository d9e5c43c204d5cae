"""Stopping with ``--cleanup-config-on-exit`` removes the supervisor's own files and nothing else.

A node keeps loading ``00-multus.conf`` after Multus is uninstalled unless the
config goes away with the supervisor, and every new pod then fails with
credentials that no longer work. On SIGTERM or SIGINT the supervisor stops its
watch loop first, so no later write re-creates a removed file, then removes
``00-multus.conf``, ``00-multus.conflist`` and ``multus.d/multus.kubeconfig``.
Files of other components (the primary CNI config, other files in
``multus.d``) are never touched. SIGKILL allows no cleanup, and the next start
must take over the files left behind.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from tests.support import (
    WAIT_SECONDS,
    CASES,
    COMMON,
    QUIET_SECONDS,
    Node,
    NotifySocket,
    SupervisorProcess,
    atomic_write,
    create_case_node,
    directory_tree,
    temporary_files,
    wait_until,
)

CASE = CASES / "cleanup-on-exit"
CILIUM = COMMON / "05-cilium.conflist"
CILIUM_DEBUG = CASE / "05-cilium.conflist.v2"
KEEP_ME = CASE / "keep-me.txt"
#: Bound on the wait for the exit after the stop signal. It only keeps a
#: broken build from hanging the run; the time itself is not asserted.
STOP_TIMEOUT = WAIT_SECONDS
#: Interval between two listings of the config directory after the exit.
LISTING_INTERVAL = 0.05


@pytest.fixture
def node(tmp_path: Path) -> Node:
    node = create_case_node(tmp_path / "node")
    shutil.copy(CILIUM, node.conf)
    (node.conf / "multus.d").mkdir()
    shutil.copy(KEEP_ME, node.conf / "multus.d")
    return node


def start_until_ready(node: Node, start_supervisor, notify_socket: NotifySocket) -> SupervisorProcess:
    """Start the supervisor with cleanup on and wait for READY=1."""
    supervisor = start_supervisor(
        *node.flags("--multus-conf-file=auto", "--cleanup-config-on-exit=true"),
        env={"NOTIFY_SOCKET": str(notify_socket.path)},
    )
    assert notify_socket.wait_for("READY=1"), supervisor.log()
    return supervisor


def trees_after_exit(directory: Path) -> list[list[str]]:
    """List *directory* for QUIET_SECONDS and return every distinct listing seen."""
    seen = [directory_tree(directory)]
    deadline = time.monotonic() + QUIET_SECONDS
    while time.monotonic() < deadline:
        time.sleep(LISTING_INTERVAL)
        listing = directory_tree(directory)
        if listing != seen[-1]:
            seen.append(listing)
    return seen


def assert_only_foreign_files_left(node: Node, cilium: bytes, cilium_inode: int) -> None:
    """Assert that the supervisor's files are gone and the foreign files are unchanged."""
    assert not node.multus_conf.exists()
    assert not node.multus_conflist.exists()
    assert not node.kubeconfig.exists()
    assert temporary_files(node.conf) == []
    assert (node.conf / "05-cilium.conflist").read_bytes() == cilium
    assert (node.conf / "05-cilium.conflist").stat().st_ino == cilium_inode
    assert (node.conf / "multus.d" / "keep-me.txt").read_bytes() == KEEP_ME.read_bytes()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_signal_removes_own_files(node, start_supervisor, notify_socket, signum):
    cilium_inode = (node.conf / "05-cilium.conflist").stat().st_ino
    supervisor = start_until_ready(node, start_supervisor, notify_socket)

    # The files never disappear before the signal, so they were in place when READY=1 was sent.
    assert node.multus_conf.is_file()
    assert node.kubeconfig.is_file()
    assert json.loads(node.multus_conf.read_bytes())["delegates"][0]["name"] == "cilium"
    assert "STOPPING=1" not in notify_socket.lines()

    supervisor.send(signum)
    status = supervisor.wait_exit(STOP_TIMEOUT)

    assert status == 0, supervisor.log()
    assert "STOPPING=1" in notify_socket.lines()
    assert_only_foreign_files_left(node, CILIUM.read_bytes(), cilium_inode)
    assert (node.conf / "multus.d").is_dir()
    assert trees_after_exit(node.conf) == [directory_tree(node.conf)]
    assert "Traceback" not in supervisor.log()


@pytest.mark.parametrize("delay", [0.0, 0.1], ids=["at-once", "after-100ms"])
def test_stop_racing_master_change(node, start_supervisor, notify_socket, delay):
    supervisor = start_until_ready(node, start_supervisor, notify_socket)

    atomic_write(node.conf / "05-cilium.conflist", CILIUM_DEBUG.read_bytes())
    cilium_inode = (node.conf / "05-cilium.conflist").stat().st_ino
    time.sleep(delay)
    supervisor.send(signal.SIGTERM)
    status = supervisor.wait_exit(STOP_TIMEOUT)

    assert status == 0, supervisor.log()
    assert "STOPPING=1" in notify_socket.lines()
    assert_only_foreign_files_left(node, CILIUM_DEBUG.read_bytes(), cilium_inode)
    assert trees_after_exit(node.conf) == [directory_tree(node.conf)]
    assert "Traceback" not in supervisor.log()


def test_sigkill_leftovers_taken_over(node, start_supervisor, notify_socket):
    cilium_inode = (node.conf / "05-cilium.conflist").stat().st_ino
    first = start_until_ready(node, start_supervisor, notify_socket)
    config = node.multus_conf.read_bytes()
    kubeconfig = node.kubeconfig.read_bytes()

    first.send(signal.SIGKILL)
    assert first.wait_exit() == -signal.SIGKILL

    # Nothing runs on SIGKILL, so the files stay as they were.
    assert node.multus_conf.read_bytes() == config
    assert node.kubeconfig.read_bytes() == kubeconfig
    assert (node.conf / "05-cilium.conflist").read_bytes() == CILIUM.read_bytes()

    second = start_supervisor(
        *node.flags("--multus-conf-file=auto", "--cleanup-config-on-exit=true"),
        env={"NOTIFY_SOCKET": str(notify_socket.path)},
    )
    assert wait_until(lambda: notify_socket.lines().count("READY=1") == 2), second.log()

    restarted = json.loads(node.multus_conf.read_bytes())
    assert restarted["delegates"] == [json.loads(CILIUM.read_bytes())]
    assert node.multus_conf.read_bytes() == config
    assert node.kubeconfig.read_bytes() == kubeconfig
    assert temporary_files(node.conf) == []

    assert second.stop() == 0, second.log()
    assert_only_foreign_files_left(node, CILIUM.read_bytes(), cilium_inode)
    assert os.path.isdir(node.conf / "multus.d")
