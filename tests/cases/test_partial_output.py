"""00-multus.conf is never empty or partial, whether the primary CNI config is missing or half-written.

The node boots with a good ``00-multus.conf`` from its previous run but no
``10-calico.conflist`` yet. Later calico writes its config, and then a
writer that is not atomic truncates it and writes it in two parts. At every
moment ``00-multus.conf`` must be absent or a complete Multus config, and
the last good one must stay while the primary config is unusable.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from tests.support import (
    CASES,
    COMMON,
    QUIET_SECONDS,
    STEADY_MARK,
    DirectoryEvents,
    FilePoller,
    Node,
    atomic_write,
    create_case_node,
    load_json_or_none,
    wait_log_after,
)

PREVIOUS_BOOT = CASES / "partial-output"
CALICO = COMMON / "10-calico.conflist"
#: Bytes the writer puts down before it pauses: the file then ends inside a key.
HALF = 180
#: Extensions that container runtimes load from the CNI config directory.
LOADED_EXTENSIONS = (".conf", ".conflist", ".json")


@pytest.fixture
def node(tmp_path: Path) -> Node:
    node = create_case_node(tmp_path / "node")
    shutil.copytree(PREVIOUS_BOOT, node.conf, dirs_exist_ok=True)
    return node


def flags(node: Node) -> list[str]:
    return node.flags(
        "--multus-conf-file=auto",
        "--skip-multus-binary-copy=true",
        "--cleanup-config-on-exit=true",
        "--multus-master-cni-file-name=10-calico.conflist",
    )


def not_found_message(node: Node) -> str:
    return f"primary CNI config not found: {node.conf / '10-calico.conflist'}"


def calico_delegated(content: bytes | None) -> bool:
    config = load_json_or_none(content)
    return isinstance(config, dict) and config.get("delegates") == [json.loads(CALICO.read_bytes())]


def test_missing_master_keeps_previous_config(node, start_supervisor):
    previous = node.multus_conf.read_bytes()

    with FilePoller([node.multus_conf]) as poller:
        supervisor = start_supervisor(*flags(node))
        assert supervisor.wait_log(not_found_message(node))
        time.sleep(QUIET_SECONDS)

    assert supervisor.running()
    assert {content for content in poller.seen(node.multus_conf)} <= {previous, None}


def test_missing_master_then_added(node, start_supervisor):
    supervisor = start_supervisor(*flags(node))
    assert supervisor.wait_log(not_found_message(node))

    atomic_write(node.conf / "10-calico.conflist", CALICO.read_bytes())

    # The previous boot's file already delegates to calico, so wait for the
    # install itself before looking at the file.
    assert supervisor.wait_log(STEADY_MARK)
    assert calico_delegated(node.multus_conf.read_bytes())
    assert supervisor.running()


class SlowWriter:
    """A writer that is not atomic: it truncates the file in place, then writes it in parts."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_TRUNC)

    def write(self, data: bytes) -> None:
        os.write(self.fd, data)

    def close(self) -> None:
        os.close(self.fd)


def test_half_written_master_never_exposed(node, start_supervisor):
    calico = CALICO.read_bytes()
    calico_kubeconfig = node.conf / "calico-kubeconfig"
    calico_kubeconfig_before = (calico_kubeconfig.read_bytes(), calico_kubeconfig.stat().st_ino)
    events = DirectoryEvents()
    events.watch(node.conf)
    events.watch(node.conf / "multus.d")

    with FilePoller([node.multus_conf]) as poller:
        poller.phase = "no master"
        supervisor = start_supervisor(*flags(node))
        assert supervisor.wait_log(not_found_message(node))

        poller.phase = "master added"
        atomic_write(node.conf / "10-calico.conflist", calico)
        assert supervisor.wait_log(STEADY_MARK)
        last_good = node.multus_conf.read_bytes()

        poller.phase = "master truncated"
        offset = len(supervisor.log())
        writer = SlowWriter(node.conf / "10-calico.conflist")
        assert wait_log_after(supervisor, "is empty", offset)
        time.sleep(QUIET_SECONDS)

        poller.phase = "master half-written"
        writer.write(calico[:HALF])
        assert wait_log_after(supervisor, "is invalid JSON", offset)
        time.sleep(QUIET_SECONDS)

        poller.phase = "master complete"
        writer.write(calico[HALF:])
        writer.close()
        assert wait_log_after(supervisor, "Inputs are usable again", offset)
    seen = poller.seen(node.multus_conf)
    configs = [load_json_or_none(content) for content in seen if content is not None]
    created = {event.name for event in events.read() if event.flags & {"CREATE", "MOVED_TO"}}
    events.close()
    log = supervisor.log()

    assert supervisor.running()
    assert [content for content in seen if content == b""] == []
    assert [config for config in configs if not isinstance(config, dict)] == []
    assert [config for config in configs if config.get("type") != "multus"] == []
    assert [config for config in configs if len(config.get("delegates", [])) != 1] == []
    assert [content for content in seen if content is not None and not calico_delegated(content)] == []
    for phase in ("master truncated", "master half-written"):
        assert set(poller.seen(node.multus_conf, phase)) == {last_good}, phase
    assert calico_delegated(node.multus_conf.read_bytes())
    assert (calico_kubeconfig.read_bytes(), calico_kubeconfig.stat().st_ino) == calico_kubeconfig_before
    assert "calico-kubeconfig" not in log
    assert {name for name in created if name.endswith(LOADED_EXTENSIONS)} <= {"00-multus.conf", "10-calico.conflist"}
