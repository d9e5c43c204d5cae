"""Symlinks planted at output paths, and the single-instance lock."""

from __future__ import annotations

import os
import stat
import sys
import signal
import subprocess

from tests.support import DATA, wait_until

CALICO = (DATA / "calico.conflist").read_text()


def is_regular_file(path) -> bool:
    """Return whether *path* itself, not a symlink's target, is a regular file."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def test_symlinked_output_replaced_not_followed(node, start_supervisor, tmp_path):
    (node.conf / "10-calico.conflist").write_text(CALICO)
    outside = tmp_path / "outside.txt"
    outside.write_text("must stay")
    node.multus_conf.symlink_to(outside)
    supervisor = start_supervisor(*node.flags())
    assert wait_until(lambda: is_regular_file(node.multus_conf))
    assert outside.read_text() == "must stay"
    assert supervisor.stop() == 0


def test_symlinked_subdirectory_rejected(node, start_supervisor, tmp_path):
    (node.conf / "10-calico.conflist").write_text(CALICO)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (node.conf / "multus.d").symlink_to(elsewhere)
    supervisor = start_supervisor(*node.flags())
    assert supervisor.wait_log("outside")
    assert list(elsewhere.iterdir()) == []
    assert node.multus_conf.exists()
    assert supervisor.running()

    (node.conf / "multus.d").unlink()
    assert wait_until(node.kubeconfig.exists)
    assert not node.kubeconfig.is_symlink()
    assert supervisor.stop() == 0


def test_second_instance_exits_1(node, start_supervisor):
    (node.conf / "10-calico.conflist").write_text(CALICO)
    first = start_supervisor(*node.flags())
    assert wait_until(node.multus_conf.exists)
    second = start_supervisor(*node.flags())
    assert second.wait_exit() == 1
    log = second.log()
    assert str(node.root / "multus-config.lock") in log
    assert f"process {first.process.pid}" in log
    assert first.running()
    assert first.stop() == 0


def test_stale_lock_does_not_block(node, start_supervisor):
    (node.conf / "10-calico.conflist").write_text(CALICO)
    first = start_supervisor(*node.flags())
    assert wait_until(node.multus_conf.exists)
    first.stop(signal.SIGKILL)
    second = start_supervisor(*node.flags())
    assert second.wait_log("State init -> rendered")
    assert second.running()
    assert second.stop() == 0


def test_umask_zero_files_private(node, start_supervisor):
    (node.conf / "10-calico.conflist").write_text(CALICO)
    supervisor = start_supervisor(*node.flags(), umask=0)
    assert wait_until(node.kubeconfig.exists)
    assert os.stat(node.multus_conf).st_mode & 0o777 == 0o600
    assert os.stat(node.kubeconfig).st_mode & 0o777 == 0o600
    assert os.stat(node.conf / "multus.d").st_mode & 0o777 == 0o755
    assert supervisor.stop() == 0


def test_internal_plugin_cannot_be_blocked(node):
    result = subprocess.run(
        [sys.executable, "-m", "supervisor", *node.flags(), "--block-plugins=core-options"],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 2
    assert "'core-options' is part of the supervisor" in result.stderr
