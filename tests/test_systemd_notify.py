"""sd_notify messages received on a real AF_UNIX datagram socket.

systemd reads ``READY=1``, ``RELOADING=1``, ``STOPPING=1``, ``STATUS=``,
``EXTEND_TIMEOUT_USEC=`` and ``WATCHDOG=1`` from the socket named by
``NOTIFY_SOCKET`` (sd_notify(3), systemd 252).
"""

from __future__ import annotations

import signal
import time

from tests.support import DATA, atomic_write, wait_until

CALICO = (DATA / "calico.conflist").read_text()
#: Words a STATUS line starts with: the lifecycle states, and ``reloading`` during a SIGHUP.
STATES = ("init", "rendered", "installed", "steady", "draining", "cleaned", "reloading")
WATCHDOG_USEC = "200000"


def notify_env(notify_socket, **extra: str) -> dict[str, str]:
    return {"NOTIFY_SOCKET": str(notify_socket.path), **extra}


def status_lines(lines: list[str]) -> list[str]:
    return [line.removeprefix("STATUS=") for line in lines if line.startswith("STATUS=")]


def state_of(status: str) -> str:
    return status.split(":", 1)[0]


def test_ready_after_files(node, start_supervisor, notify_socket):
    (node.conf / "10-calico.conflist").write_text(CALICO)
    (node.sa / "token").unlink()
    supervisor = start_supervisor(*node.flags(), env=notify_env(notify_socket))

    def waits_for_token() -> bool:
        return any("service-account token" in status for status in status_lines(notify_socket.lines()))

    assert wait_until(waits_for_token), notify_socket.lines()
    assert "READY=1" not in notify_socket.lines()
    assert not node.multus_conf.exists()

    atomic_write(node.sa / "token", "TOKEN")
    assert notify_socket.wait_for("READY=1"), notify_socket.lines()
    assert node.multus_conf.exists()
    assert node.kubeconfig.exists()
    assert supervisor.stop() == 0


def test_status_names_state(node, start_supervisor, notify_socket):
    (node.conf / "10-calico.conflist").write_text(CALICO)
    supervisor = start_supervisor(*node.flags(), env=notify_env(notify_socket))
    assert notify_socket.wait_for("READY=1"), notify_socket.lines()

    # Later renders, such as one woken by the supervisor's own writes, may
    # add statuses after READY=1, so only the start-up messages are checked.
    messages = notify_socket.receive()
    ready = next(index for index, message in enumerate(messages) if "READY=1" in message.splitlines())
    startup = [line for message in messages[: ready + 1] for line in message.splitlines()]
    statuses = status_lines(startup)
    assert statuses
    for status in statuses:
        assert state_of(status) in STATES, status
    states = [state_of(status) for status in statuses]
    assert states[-3:] == ["rendered", "installed", "steady"]
    assert supervisor.stop() == 0


def test_waits_for_primary(node, start_supervisor, notify_socket):
    supervisor = start_supervisor(*node.flags(), env=notify_env(notify_socket))

    def extend_lines() -> list[str]:
        return [line for line in notify_socket.lines() if line.startswith("EXTEND_TIMEOUT_USEC=")]

    def waits_for_primary() -> bool:
        return any("primary CNI config" in status for status in status_lines(notify_socket.lines()))

    assert wait_until(extend_lines), notify_socket.lines()
    extension = extend_lines()[0].removeprefix("EXTEND_TIMEOUT_USEC=")
    assert extension.isdigit(), extension
    assert int(extension) > 0
    assert wait_until(waits_for_primary), notify_socket.lines()
    assert "READY=1" not in notify_socket.lines()

    atomic_write(node.conf / "10-calico.conflist", CALICO)
    assert notify_socket.wait_for("READY=1"), notify_socket.lines()
    assert node.multus_conf.exists()
    assert supervisor.stop() == 0


def test_sighup_reloading_then_ready(node, start_supervisor, notify_socket):
    (node.conf / "10-calico.conflist").write_text(CALICO)
    supervisor = start_supervisor(*node.flags(), env=notify_env(notify_socket))
    assert notify_socket.wait_for("READY=1"), notify_socket.lines()
    start = len(notify_socket.lines())

    supervisor.send(signal.SIGHUP)

    def reload_lines() -> list[str]:
        return notify_socket.lines()[start:]

    assert wait_until(lambda: "RELOADING=1" in reload_lines()), reload_lines()
    reloading = reload_lines().index("RELOADING=1")
    assert wait_until(lambda: "READY=1" in reload_lines()[reloading:]), reload_lines()
    assert any(line.startswith("MONOTONIC_USEC=") for line in reload_lines())
    assert supervisor.running()
    assert supervisor.stop() == 0


def test_sigterm_sends_stopping(node, start_supervisor, notify_socket):
    (node.conf / "10-calico.conflist").write_text(CALICO)
    supervisor = start_supervisor(*node.flags(), env=notify_env(notify_socket))
    assert notify_socket.wait_for("READY=1"), notify_socket.lines()

    assert supervisor.stop(signal.SIGTERM) == 0
    assert "STOPPING=1" in notify_socket.lines()


def test_watchdog_pings_repeat(node, start_supervisor, notify_socket):
    (node.conf / "10-calico.conflist").write_text(CALICO)
    env = notify_env(notify_socket, WATCHDOG_USEC=WATCHDOG_USEC)
    supervisor = start_supervisor(*node.flags(), env=env)
    assert notify_socket.wait_for("READY=1"), notify_socket.lines()

    before = notify_socket.lines().count("WATCHDOG=1")
    time.sleep(1.0)
    after = notify_socket.lines().count("WATCHDOG=1")
    assert after - before >= 3, notify_socket.lines()
    assert supervisor.stop() == 0


def test_watchdog_for_other_pid(node, start_supervisor, notify_socket):
    (node.conf / "10-calico.conflist").write_text(CALICO)
    # WATCHDOG_PID names the process the watchdog is meant for, so any other
    # process ignores WATCHDOG_USEC (sd_watchdog_enabled(3), systemd 252).
    env = notify_env(notify_socket, WATCHDOG_USEC=WATCHDOG_USEC, WATCHDOG_PID="1")
    supervisor = start_supervisor(*node.flags(), env=env)
    assert notify_socket.wait_for("READY=1"), notify_socket.lines()

    time.sleep(1.0)
    assert "WATCHDOG=1" not in notify_socket.lines()
    assert supervisor.stop() == 0


def test_silent_without_socket(node, start_supervisor, notify_socket):
    (node.conf / "10-calico.conflist").write_text(CALICO)
    supervisor = start_supervisor(*node.flags(), env={"WATCHDOG_USEC": WATCHDOG_USEC})
    assert supervisor.wait_log("-> steady"), supervisor.log()

    supervisor.send(signal.SIGHUP)
    assert supervisor.wait_log("SIGHUP received"), supervisor.log()
    assert supervisor.stop() == 0
    assert notify_socket.receive() == []
