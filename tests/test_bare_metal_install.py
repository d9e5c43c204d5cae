"""The bare-metal install script, run against a staging root instead of /."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

REPOSITORY = Path(__file__).parent.parent
SCRIPT = REPOSITORY / "packaging" / "bare-metal" / "install.sh"


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=600)


def test_install_then_uninstall(tmp_path):
    root = tmp_path / "root"
    binary = tmp_path / "multus"
    binary.write_bytes(b"#!/bin/sh\nexit 0\n")

    installed = run_script("--root", str(root), "--source", str(REPOSITORY), "--multus-binary", str(binary))
    assert installed.returncode == 0, installed.stderr
    supervisor = root / "opt/multus-config/bin/multus-config"
    assert subprocess.run([str(supervisor), "--help"], capture_output=True, timeout=60).returncode == 0
    assert (root / "opt/multus-config/libexec/multus").read_bytes() == binary.read_bytes()
    assert (root / "etc/systemd/system/multus-config.service").read_text() == (REPOSITORY / "multus-config.service").read_text()
    config = tomllib.loads((root / "etc/multus-config/config.toml").read_text())
    assert config["cni-conf-dir"] == "/etc/cni/net.d"
    assert config["multus-bin-file"] == "/opt/multus-config/libexec/multus"
    assert (root / "etc/default/multus-config").exists()

    (root / "etc/multus-config/config.toml").write_text('cni-conf-dir = "/custom"\n')
    again = run_script("--root", str(root), "--source", str(REPOSITORY))
    assert again.returncode == 0, again.stderr
    assert (root / "etc/multus-config/config.toml").read_text() == 'cni-conf-dir = "/custom"\n'

    removed = run_script("--uninstall", "--root", str(root))
    assert removed.returncode == 0, removed.stderr
    assert not (root / "opt/multus-config").exists()
    assert not (root / "etc/systemd/system/multus-config.service").exists()
    assert (root / "etc/multus-config/config.toml").exists()

    purged = run_script("--uninstall", "--purge", "--root", str(root))
    assert purged.returncode == 0, purged.stderr
    assert not (root / "etc/multus-config").exists()
    assert not (root / "etc/default/multus-config").exists()


def test_unknown_argument_exits_2():
    result = run_script("--frobnicate")
    assert result.returncode == 2
    assert "unknown argument '--frobnicate'" in result.stderr
