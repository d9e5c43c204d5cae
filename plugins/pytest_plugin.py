"""pytest fixtures for testing multus-config plugins against the real supervisor.

Installed with multus-config and loaded by pytest automatically (entry point
``pytest11``). A plugin's test gets a temporary node, starts the supervisor on
it, and reads what was installed and which notifications systemd received::

    def test_adds_tuning(multus_node, multus_supervisor, multus_notify):
        (multus_node.conf / "10-net.conf").write_text(PRIMARY)
        supervisor = multus_supervisor(*multus_node.flags("--tuning-sysctl=net.core.somaxconn=500"))
        assert multus_notify.wait_for("READY=1")
        assert "tuning" in multus_node.multus_conf.read_text()

The supervisor runs as ``python -m supervisor`` from the same interpreter, so
plugins installed in that environment are loaded through their entry points.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from plugins.testing import Node, NotifySocket, SupervisorProcess


@pytest.fixture
def multus_node(tmp_path: Path) -> Node:
    """Create a temporary node: CNI config and binary directories and a service account."""
    return Node.create(tmp_path / "node")


@pytest.fixture
def multus_notify(tmp_path: Path) -> Iterator[NotifySocket]:
    """Bind a datagram socket that records the sd_notify messages of ``multus_supervisor``."""
    sock = NotifySocket(tmp_path / "notify.sock")
    yield sock
    sock.close()


@pytest.fixture
def multus_supervisor(
    tmp_path: Path, multus_notify: NotifySocket
) -> Iterator[Callable[..., SupervisorProcess]]:
    """Start supervisors that report to ``multus_notify``; each is killed at the end of the test."""
    started: list[SupervisorProcess] = []

    def start(*args: str, env: dict[str, str] | None = None) -> SupervisorProcess:
        environment = {"NOTIFY_SOCKET": str(multus_notify.path), **(env or {})}
        log_path = tmp_path / f"supervisor-{len(started)}.log"
        process = SupervisorProcess.start(args, log_path, env=environment)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.running():
            process.send(signal.SIGKILL)
            process.process.wait()
