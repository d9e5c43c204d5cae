"""Progress lines on a terminal: the wait for a first input, and a large binary copy."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time

from tests.support import DATA, KUBERNETES_ENV

CALICO = (DATA / "calico.conflist").read_text()


def run_on_terminal(args: list[str], until: bytes, limit: float = 15.0) -> bytes:
    """Run the supervisor with stderr on a pseudo-terminal; return what it wrote until *until* appears."""
    controller, terminal = pty.openpty()
    environment = {**os.environ, **KUBERNETES_ENV}
    process = subprocess.Popen(
        [sys.executable, "-m", "supervisor", *args],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=terminal, env=environment,
    )
    os.close(terminal)
    output = b""
    deadline = time.monotonic() + limit
    try:
        while until not in output and time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.2)
            if ready:
                try:
                    output += os.read(controller, 65536)
                except OSError:
                    break
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(15)
        os.close(controller)
    return output


def test_waiting_line_counts_seconds(node, tmp_path):
    output = run_on_terminal([*node.flags(), f"--state-file={tmp_path / 's.json'}"], until=b"(2 s)")
    assert b"\r\x1b[Kwaiting for a usable input (2 s): primary CNI config not found" in output


def test_waiting_line_absent_without_terminal(node, start_supervisor):
    supervisor = start_supervisor(*node.flags())
    assert supervisor.wait_log("Cannot render")
    time.sleep(1.5)
    supervisor.stop()
    assert "waiting for a usable input (" not in supervisor.log()


def test_large_binary_copy_shows_progress(node, tmp_path):
    (node.conf / "10-calico.conflist").write_text(CALICO)
    source = tmp_path / "multus"
    source.write_bytes(os.urandom(12 * 1024 * 1024))
    args = [*node.flags(f"--multus-bin-file={source}", binary=True), f"--state-file={tmp_path / 's.json'}"]
    output = run_on_terminal(args, until=b"Installed multus binary")
    assert b"writing multus binary: 12 of 12 MiB (100 %)" in output
    assert (node.bin / "multus").read_bytes() == source.read_bytes()
