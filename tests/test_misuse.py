"""Misuse found by trying the product as a new operator would: each must fail clearly or be survived."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

from tests.support import DATA, KUBERNETES_ENV, atomic_write, read_or_none, wait_until

CALICO = (DATA / "calico.conflist").read_text()


def command(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {"PATH": "/usr/bin:/bin", **KUBERNETES_ENV, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "supervisor", *args], capture_output=True, text=True, env=environment, timeout=30
    )


def test_subdirectory_replaced_by_file_survived(node, start_supervisor):
    (node.conf / "10-calico.conflist").write_text(CALICO)
    supervisor = start_supervisor(*node.flags())
    assert wait_until(node.kubeconfig.exists)
    good = node.multus_conf.read_bytes()

    # The supervisor recreates a deleted directory within milliseconds, so the
    # file is renamed into place right after the removal, retried on a race.
    blocker = node.root / "blocker"
    for _ in range(20):
        blocker.write_text("not a directory")
        shutil.rmtree(node.conf / "multus.d", ignore_errors=True)
        try:
            os.rename(blocker, node.conf / "multus.d")
            break
        except OSError:
            continue
    assert (node.conf / "multus.d").is_file()
    assert supervisor.wait_log("Install failed")
    assert supervisor.running()
    assert node.multus_conf.read_bytes() == good
    assert "Traceback" not in supervisor.log()

    (node.conf / "multus.d").unlink()
    assert wait_until(node.kubeconfig.exists, timeout=90)
    assert supervisor.stop() == 0


def test_failing_install_not_ready(node, start_supervisor, notify_socket, tmp_path):
    (node.conf / "10-calico.conflist").write_text(CALICO)
    outside = tmp_path / "outside"
    outside.mkdir()
    (node.conf / "multus.d").symlink_to(outside)
    state_file = node.root / "status.json"
    flags = [*node.flags(), f"--state-file={state_file}"]
    supervisor = start_supervisor(*flags, env={"NOTIFY_SOCKET": str(notify_socket.path)})
    assert supervisor.wait_log("Install failed")
    assert wait_until(lambda: any(line.startswith("STATUS=steady: retrying") for line in notify_socket.lines()))
    assert "READY=1" not in notify_socket.lines()
    assert wait_until(lambda: b'"last_error_kind": "install"' in (read_or_none(state_file) or b""))
    result = command("status", *flags)
    assert result.returncode == 1
    supervisor.stop()


def test_cleanup_command_restores_renamed_primary(node, start_supervisor):
    primary = node.conf / "10-calico.conflist"
    primary.write_text(CALICO)
    flags = [*node.flags(), "--rename-conf-file"]
    supervisor = start_supervisor(*flags)
    assert wait_until(lambda: (node.conf / "10-calico.conflist.old").exists())
    supervisor.stop(signal.SIGKILL)

    result = command("cleanup", *flags)
    assert result.returncode == 0
    assert primary.read_text() == CALICO
    assert not (node.conf / "10-calico.conflist.old").exists()
    assert not node.multus_conf.exists()


def test_symlinked_primary_target_watched(node, start_supervisor, tmp_path):
    source = tmp_path / "calico-source"
    source.mkdir()
    (source / "10-calico.conflist").write_text(CALICO)
    (node.conf / "10-calico.conflist").symlink_to(source / "10-calico.conflist")
    supervisor = start_supervisor(*node.flags())
    assert wait_until(node.multus_conf.exists)
    assert supervisor.wait_log("State installed -> steady")

    atomic_write(source / "10-calico.conflist", CALICO.replace('"mtu": 0', '"mtu": 1234'))
    assert wait_until(lambda: '"mtu":1234' in node.multus_conf.read_text())
    assert supervisor.stop() == 0


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["--api-server=https://127.0.0.1:6443/\n    insecure-skip-tls-verify: true"], {}, "contains whitespace"),
        ([], {"KUBERNETES_SERVICE_HOST": "127.0.0.1\n    x: y"}, "is not a host name or IP address"),
        (["--kubeconfig-file=/k", "--api-server=https://a:1"], {}, "--kubeconfig-file cannot be combined with --api-server"),
        (["--kubeconfig-file-mode=reference"], {}, "needs --kubeconfig-file"),
        (["--config-file="], {}, "--config-file must not be empty"),
        ([], {"MULTUS_CONFIG_BLOCK_PLUGINS": "core-options"}, "'core-options' is part of the supervisor"),
    ],
    ids=["api-server-newline", "host-newline", "kubeconfig-conflict", "reference-without-file", "empty-config-file", "block-core-by-env"],
)
def test_bad_setting_exits_2(node, args, env, expected):
    result = command(*node.flags(*args), env=env)
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"\xff\xfe", "cannot read configuration file"),
        (b'skip-tls-verify = "true"\n', "skip-tls-verify: expected a boolean"),
        (b"cni-conf-dir = 5\n", "cni-conf-dir: expected a string"),
        (b"resync-interval = true\n", "resync-interval: expected a number of seconds"),
        (b"show-secrets = true\n", "unknown key 'show-secrets'"),
    ],
    ids=["not-utf8", "bool-as-string", "path-as-number", "seconds-as-bool", "command-switch"],
)
def test_bad_config_file_exits_2(node, tmp_path, text, expected):
    config = tmp_path / "config.toml"
    config.write_bytes(text)
    result = command("render", *node.flags(f"--config-file={config}"))
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_show_secrets_not_from_environment(node):
    (node.conf / "10-calico.conflist").write_text(CALICO)
    result = command("render", *node.flags(), env={"MULTUS_CONFIG_SHOW_SECRETS": "1"})
    assert result.returncode == 1
    assert "not shown because it holds a secret" in result.stdout
