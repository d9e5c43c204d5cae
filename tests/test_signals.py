"""SIGTERM stops the supervisor cleanly while it waits and when it is steady.

SIGHUP renders again and writes only files whose content changed.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tests.support import DATA, MARKER_TOKEN, DirectoryEvents, Node, atomic_write, wait_until

CALICO = (DATA / "calico.conflist").read_text()
TEMP_SUFFIX = ".multus-config-tmp"
BURST_SIGNALS = 200
RELOAD_LOG = "SIGHUP received"


def tree_state(node: Node) -> dict[Path, tuple[int, int, int]]:
    """Return mode, size and modification time of every entry in the node's CNI and account directories."""
    state = {}
    for top in (node.conf, node.bin, node.sa):
        for path in [top, *top.rglob("*")]:
            info = path.lstat()
            state[path] = (info.st_mode, info.st_size, info.st_mtime_ns)
    return state


def temporary_files(node: Node) -> list[Path]:
    return [path for path in node.root.rglob("*") if path.name.endswith(TEMP_SUFFIX)]


def start_steady(node: Node, start_supervisor):
    """Start a supervisor on a node with a primary config and wait until it reaches steady."""
    (node.conf / "10-calico.conflist").write_text(CALICO)
    supervisor = start_supervisor(*node.flags())
    assert supervisor.wait_log("-> steady"), supervisor.log()
    assert node.kubeconfig.exists()
    return supervisor


def test_sigterm_while_waiting(node, start_supervisor):
    before = tree_state(node)
    supervisor = start_supervisor(*node.flags())
    assert supervisor.wait_log("Cannot render"), supervisor.log()

    assert supervisor.stop(signal.SIGTERM) == 0
    assert not node.multus_conf.exists()
    assert not node.kubeconfig.parent.exists()
    assert tree_state(node) == before


def test_sigterm_twice(node, start_supervisor):
    supervisor = start_steady(node, start_supervisor)

    supervisor.send(signal.SIGTERM)
    supervisor.send(signal.SIGTERM)
    assert supervisor.wait_exit() == 0, supervisor.log()
    assert node.multus_conf.exists()


def test_sighup_unchanged_writes_nothing(node, start_supervisor):
    supervisor = start_steady(node, start_supervisor)
    events = DirectoryEvents()
    try:
        for directory in (node.conf, node.kubeconfig.parent, node.sa):
            events.watch(directory)
        before = tree_state(node)

        supervisor.send(signal.SIGHUP)
        assert supervisor.wait_log(RELOAD_LOG), supervisor.log()
        # The loop handles the SIGTERM only after the reload has finished.
        assert supervisor.stop(signal.SIGTERM) == 0

        assert events.read() == []
        assert tree_state(node) == before
    finally:
        events.close()


def test_sighup_burst(node, start_supervisor):
    supervisor = start_steady(node, start_supervisor)
    multus_conf = node.multus_conf.read_bytes()
    kubeconfig = node.kubeconfig.read_text()
    assert f'"{MARKER_TOKEN}"' in kubeconfig

    # A token change halfway through the burst makes the reloads install files.
    for index in range(BURST_SIGNALS):
        if index == BURST_SIGNALS // 2:
            atomic_write(node.sa / "token", "ROTATED")
        os.kill(supervisor.process.pid, signal.SIGHUP)
    assert supervisor.wait_log(RELOAD_LOG), supervisor.log()
    expected_kubeconfig = kubeconfig.replace(f'"{MARKER_TOKEN}"', '"ROTATED"')
    assert wait_until(lambda: node.kubeconfig.read_text() == expected_kubeconfig), node.kubeconfig.read_text()
    assert supervisor.running()

    assert supervisor.stop(signal.SIGTERM) == 0
    assert node.multus_conf.read_bytes() == multus_conf
    assert node.kubeconfig.read_text() == expected_kubeconfig
    assert temporary_files(node) == []
