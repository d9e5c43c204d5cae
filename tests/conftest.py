"""Fixtures: a temporary node, supervisors that are always stopped, a notify socket."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from tests.support import Node, NotifySocket, SupervisorProcess, secrets_in


@pytest.fixture
def node(tmp_path: Path) -> Node:
    return Node.create(tmp_path / "node")


@pytest.fixture
def start_supervisor(tmp_path: Path) -> Iterator[Callable[..., SupervisorProcess]]:
    """Start supervisors; any still running at the end of the test is killed.

    At the end, every supervisor's log is searched for the service-account
    token and CA lines it was started with, and for those present at the end,
    because neither may ever be logged.
    """
    started: list[SupervisorProcess] = []
    secrets: set[str] = set()

    def start(
        *args: str,
        env: dict[str, str] | None = None,
        umask: int | None = None,
        wrapper: Sequence[str] = (),
    ) -> SupervisorProcess:
        log_path = tmp_path / f"supervisor-{len(started)}.log"
        secrets.update(secrets_in(args))
        process = SupervisorProcess.start(args, log_path, env=env, umask=umask, wrapper=wrapper)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.running():
            process.send(signal.SIGKILL)
            process.process.wait()
    for process in started:
        secrets.update(secrets_in(process.args))
        log = process.log()
        leaked = [secret for secret in secrets if secret in log]
        assert leaked == [], f"secret material in {process.log_path}"


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[NotifySocket]:
    sock = NotifySocket(tmp_path / "notify.sock")
    yield sock
    sock.close()
