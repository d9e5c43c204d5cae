"""Install behaviour seen from disk: no needless writes, no leftovers, repairs."""

from __future__ import annotations

import json
import os
import shutil

from tests.support import DATA, atomic_write, read_or_none, wait_until

CALICO = (DATA / "calico.conflist").read_text()
TEMP_SUFFIX = ".multus-config-tmp"


def calico_v1() -> str:
    return CALICO.replace('"cniVersion": "0.3.1"', '"cniVersion": "1.0.0"')


def test_restart_identical_binary_not_rewritten(node, start_supervisor, tmp_path):
    (node.conf / "10-calico.conflist").write_text(CALICO)
    source = tmp_path / "multus"
    source.write_bytes(os.urandom(256 * 1024))
    flags = node.flags(f"--multus-bin-file={source}", binary=True)
    first = start_supervisor(*flags)
    target = node.bin / "multus"
    assert wait_until(target.exists)
    assert wait_until(node.kubeconfig.exists)
    assert first.stop() == 0
    before = os.stat(target)

    second = start_supervisor(*flags)
    assert second.wait_log("all 3 files current")
    after = os.stat(target)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert target.read_bytes() == source.read_bytes()
    assert os.stat(target).st_mode & 0o777 == 0o755
    assert second.stop() == 0


def test_resync_catches_unwatched_change(node, start_supervisor, tmp_path):
    (node.conf / "10-calico.conflist").write_text(CALICO)
    source = tmp_path / "multus"
    source.write_bytes(b"version 1")
    supervisor = start_supervisor(*node.flags(f"--multus-bin-file={source}", "--resync-interval=0.5", binary=True))
    target = node.bin / "multus"
    assert wait_until(lambda: read_or_none(target) == b"version 1")

    atomic_write(source, b"version 2")
    assert wait_until(lambda: read_or_none(target) == b"version 2"), supervisor.log()
    assert supervisor.stop() == 0


def test_stale_temporaries_removed_at_start(node, start_supervisor):
    (node.conf / "10-calico.conflist").write_text(CALICO)
    (node.conf / "multus.d").mkdir()
    stale = [
        node.conf / f".00-multus.conf.0badf00d{TEMP_SUFFIX}",
        node.conf / "multus.d" / f".multus.kubeconfig.deadbeef{TEMP_SUFFIX}",
        node.conf / "00-multus.conf.new",
    ]
    for path in stale:
        path.write_text('{"partial": ')
    foreign = node.conf / ".calico-tmp"
    foreign.write_text("not ours")
    supervisor = start_supervisor(*node.flags())
    assert wait_until(node.multus_conf.exists)
    assert supervisor.wait_log("State installed -> steady")
    remaining = [path for path in stale if path.exists()]
    assert remaining == []
    assert foreign.read_text() == "not ours"
    assert supervisor.stop() == 0


def test_conf_to_conflist_removes_sibling(node, start_supervisor):
    primary = node.conf / "10-calico.conflist"
    primary.write_text(CALICO)
    supervisor = start_supervisor(*node.flags())
    assert wait_until(node.multus_conf.exists)

    atomic_write(primary, calico_v1())
    assert wait_until(node.multus_conflist.exists)
    assert wait_until(lambda: not node.multus_conf.exists())
    assert json.loads(node.multus_conflist.read_text())["cniVersion"] == "1.0.0"

    atomic_write(primary, CALICO)
    assert wait_until(node.multus_conf.exists)
    assert wait_until(lambda: not node.multus_conflist.exists())
    assert supervisor.stop() == 0


def test_deleted_output_restored(node, start_supervisor):
    (node.conf / "10-calico.conflist").write_text(CALICO)
    supervisor = start_supervisor(*node.flags())
    assert wait_until(node.kubeconfig.exists)
    good = node.kubeconfig.read_bytes()

    shutil.rmtree(node.conf / "multus.d")
    assert wait_until(lambda: read_or_none(node.kubeconfig) == good)
    node.multus_conf.unlink()
    assert wait_until(node.multus_conf.exists)
    os.rename(node.multus_conf, node.conf / "00-multus.conf.cilium_bak")
    assert wait_until(node.multus_conf.exists)
    assert supervisor.stop() == 0


def test_wrong_mode_repaired(node, start_supervisor):
    (node.conf / "10-calico.conflist").write_text(CALICO)
    supervisor = start_supervisor(*node.flags())
    assert wait_until(node.multus_conf.exists)

    os.chmod(node.multus_conf, 0o644)
    assert wait_until(lambda: os.stat(node.multus_conf).st_mode & 0o777 == 0o600)
    assert supervisor.stop() == 0


def test_service_account_dir_recreated(node, start_supervisor):
    (node.conf / "10-calico.conflist").write_text(CALICO)
    supervisor = start_supervisor(*node.flags())
    assert wait_until(node.kubeconfig.exists)

    ca = (node.sa / "ca.crt").read_bytes()
    shutil.rmtree(node.sa)
    assert supervisor.wait_log("service-account token not found")
    node.sa.mkdir()
    (node.sa / "ca.crt").write_bytes(ca)
    (node.sa / "token").write_text("token-after-remount")
    assert wait_until(lambda: b'"token-after-remount"' in node.kubeconfig.read_bytes())
    assert supervisor.running()
    assert supervisor.stop() == 0


def test_explicit_conf_follows_source(node, start_supervisor, tmp_path):
    source_dir = tmp_path / "src"
    source_dir.mkdir()
    source = source_dir / "05-multus.conf"
    source.write_text('{"cniVersion": "0.3.1", "name": "given", "type": "multus"}\n')
    supervisor = start_supervisor(*node.flags(f"--multus-conf-file={source}"))
    target = node.conf / "05-multus.conf"
    assert wait_until(lambda: read_or_none(target) == source.read_bytes())

    atomic_write(source, '{"cniVersion": "0.3.1", "name": "given-v2", "type": "multus"}\n')
    assert wait_until(lambda: b"given-v2" in target.read_bytes())
    source.write_text('{"cniVersion": "0.3.1", ')
    assert supervisor.wait_log("is invalid JSON")
    assert b"given-v2" in target.read_bytes()
    assert supervisor.stop() == 0


def test_token_never_logged(node, start_supervisor):
    marker = "MARKER-TOKEN-4f1c2b"
    (node.sa / "token").write_text(marker + "\n")
    (node.conf / "10-calico.conflist").write_text(CALICO)
    supervisor = start_supervisor(*node.flags(), "--log-level=debug")
    assert wait_until(node.kubeconfig.exists)
    (node.sa / "token").write_text(marker + " with space")
    assert supervisor.wait_log("contains whitespace")
    supervisor.stop()
    assert marker not in supervisor.log()
    assert (node.sa / "ca.crt").read_text().splitlines()[1] not in supervisor.log()
