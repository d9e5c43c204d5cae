"""Fixtures: a temporary node, supervisors that are always stopped, a notify socket."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from tests.support import Node, NotifySocket, SupervisorProcess


@pytest.fixture
def node(tmp_path: Path) -> Node:
    return Node.create(tmp_path / "node")


@pytest.fixture
def start_supervisor(tmp_path: Path) -> Iterator[Callable[..., SupervisorProcess]]:
    """Start supervisors; any still running at the end of the test is killed."""
    started: list[SupervisorProcess] = []

    def start(
        *args: str,
        env: dict[str, str] | None = None,
        umask: int | None = None,
        wrapper: Sequence[str] = (),
    ) -> SupervisorProcess:
        log_path = tmp_path / f"supervisor-{len(started)}.log"
        process = SupervisorProcess.start(args, log_path, env=env, umask=umask, wrapper=wrapper)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.running():
            process.send(signal.SIGKILL)
            process.process.wait()


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[NotifySocket]:
    sock = NotifySocket(tmp_path / "notify.sock")
    yield sock
    sock.close()
