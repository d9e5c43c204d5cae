"""An idle supervisor causes no file-system events, and one input change causes one write.

Container runtimes watch the CNI config directory, so every write there wakes
them. With no input change the supervisor must create, write, rename, delete
and even read nothing. An input whose mtime changes but whose content does not
must not cause a write. One content change of the primary CNI config must
replace ``00-multus.conf`` by exactly one rename and leave the kubeconfig alone.
The tests watch the directories through their own inotify descriptor.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from inotify_simple import flags as inotify_flags

from tests.support import (
    CASES,
    COMMON,
    QUIET_SECONDS,
    WAIT_SECONDS,
    DirectoryEvent,
    DirectoryEvents,
    Node,
    SupervisorProcess,
    atomic_write,
    create_case_node,
    load_json_or_none,
    temporary_files,
    wait_until,
)

CALICO = COMMON / "10-calico.conflist"
CALICO_MTU_1400 = CASES / "no-rewrite-churn" / "10-calico.conflist.v2"
#: Length of the idle window in which no event may occur.
IDLE_SECONDS = 5.0
#: The supervisor counts as settled after this long without any event.
SETTLE_SECONDS = 0.5
#: inotify flags of an event that changes a directory entry, a file or its metadata.
CHANGE_FLAGS = frozenset(
    {"CREATE", "MODIFY", "CLOSE_WRITE", "DELETE", "MOVED_FROM", "MOVED_TO", "ATTRIB", "DELETE_SELF", "MOVE_SELF"}
)


class AccessEvents(DirectoryEvents):
    """Directory events that include opens and reads, so that a read by the supervisor is seen too."""

    MASK = DirectoryEvents.MASK | inotify_flags.OPEN | inotify_flags.ACCESS


@dataclass(frozen=True)
class FileState:
    """Identity and content of a file, of which any rewrite changes at least one field."""

    inode: int
    mtime_ns: int
    sha256: str

    @classmethod
    def of(cls, path: Path) -> FileState:
        info = path.stat()
        return cls(info.st_ino, info.st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest())


@dataclass
class SteadyNode:
    """A node whose supervisor has installed its files and has had no event for a while."""

    node: Node
    supervisor: SupervisorProcess
    events: AccessEvents
    config: FileState
    kubeconfig: FileState


def wait_for_quiet(events: AccessEvents) -> bool:
    """Wait until no event arrives for SETTLE_SECONDS; return False if that never happens."""
    deadline = time.monotonic() + WAIT_SECONDS
    count = len(events.read())
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        if len(events.read()) != count:
            count = len(events.events)
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= SETTLE_SECONDS:
            return True
    return False


def changes(events: list[DirectoryEvent]) -> list[DirectoryEvent]:
    return [event for event in events if event.flags & CHANGE_FLAGS]


def delegate_mtu(node: Node) -> object:
    config = load_json_or_none(node.multus_conf.read_bytes())
    if not isinstance(config, dict):
        return None
    return config["delegates"][0]["plugins"][0].get("mtu")


@pytest.fixture
def steady(tmp_path: Path, start_supervisor, notify_socket) -> Iterator[SteadyNode]:
    node = create_case_node(tmp_path / "node")
    shutil.copy(CALICO, node.conf)
    supervisor = start_supervisor(
        *node.flags("--multus-conf-file=auto", "--cleanup-config-on-exit=true"),
        env={"NOTIFY_SOCKET": str(notify_socket.path)},
    )
    assert notify_socket.wait_for("READY=1"), supervisor.log()

    events = AccessEvents()
    for directory in (node.conf, node.conf / "multus.d", node.sa):
        events.watch(directory)
    assert wait_for_quiet(events), changes(events.events)
    events.events.clear()

    config = FileState.of(node.multus_conf)
    kubeconfig = FileState.of(node.kubeconfig)
    # Drop the opens and reads that the two reads above caused.
    own_reads = {node.multus_conf.name, node.kubeconfig.name}
    events.read()
    events.events[:] = [
        event for event in events.events if not (event.name in own_reads and event.flags <= {"OPEN", "ACCESS"})
    ]

    yield SteadyNode(node, supervisor, events, config, kubeconfig)
    events.close()


def test_idle_supervisor_causes_no_events(steady):
    # Idle CPU time is a performance figure, measured by tests/benchmarks;
    # this test checks only that nothing is touched.
    time.sleep(IDLE_SECONDS)
    events = list(steady.events.read())

    assert events == []
    assert temporary_files(steady.node.conf) == []
    assert FileState.of(steady.node.multus_conf) == steady.config
    assert FileState.of(steady.node.kubeconfig) == steady.kubeconfig
    assert steady.supervisor.running()


def test_mtime_only_change_writes_nothing(steady):
    master = steady.node.conf / "10-calico.conflist"
    mtime_before = master.stat().st_mtime_ns

    os.utime(master)
    assert master.stat().st_mtime_ns != mtime_before
    time.sleep(QUIET_SECONDS)
    events = list(steady.events.read())

    # The ATTRIB event of the touch itself is the only change expected.
    touch = [event for event in events if event.name == master.name and event.flags == {"ATTRIB"}]
    assert len(touch) == 1
    assert [event for event in changes(events) if event not in touch] == []
    assert temporary_files(steady.node.conf) == []
    assert FileState.of(steady.node.multus_conf) == steady.config
    assert FileState.of(steady.node.kubeconfig) == steady.kubeconfig


def test_content_change_renames_config_once(steady):
    node = steady.node

    atomic_write(node.conf / "10-calico.conflist", CALICO_MTU_1400.read_bytes())
    assert wait_until(lambda: delegate_mtu(node) == 1400), steady.supervisor.log()
    time.sleep(QUIET_SECONDS)
    events = changes(steady.events.read())

    renames = [event for event in events if event.name == node.multus_conf.name and "MOVED_TO" in event.flags]
    assert len(renames) == 1
    assert renames[0].directory == node.conf
    in_place = [event for event in events if event.name == node.multus_conf.name and "MOVED_TO" not in event.flags]
    assert in_place == []
    assert [event for event in events if event.directory == node.conf / "multus.d"] == []
    assert [event for event in events if event.directory == node.sa] == []
    assert FileState.of(node.kubeconfig) == steady.kubeconfig
    assert temporary_files(node.conf) == []
    assert json.loads(node.multus_conf.read_bytes())["delegates"][0] == json.loads(CALICO_MTU_1400.read_bytes())

