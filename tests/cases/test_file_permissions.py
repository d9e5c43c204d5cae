"""Every file the supervisor installs has mode 0600, whatever the umask and the existing files.

No other user may read the CNI config, and the kubeconfig contains a bearer
token. The mode must hold with umask 0, over installed files and stale
``*.new`` temporary files of mode 0644 (a temporary file that is reused keeps
its old mode through the rename), and for a user-provided config whose source
is 0644, as a ConfigMap mount is. Files the supervisor does not own keep their
mode.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from tests.support import (
    CASES,
    COMMON,
    STEADY_MARK,
    Node,
    create_case_node,
    temporary_files,
)

CASE = CASES / "file-permissions"
#: Installed files and stale temporary files, all of mode 0644, as an older entrypoint left them.
STALE_FILES = CASE / "conf"
USER_CONFIG = CASE / "src" / "05-multus.conf"
CALICO = COMMON / "10-calico.conflist"


def file_mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def create_node(root: Path, stale: bool) -> Node:
    """Create a node with the primary config at 0644 and, if *stale*, the old files at 0644."""
    node = create_case_node(root)
    shutil.copy(CALICO, node.conf)
    os.chmod(node.conf / CALICO.name, 0o644)
    if stale:
        shutil.copytree(STALE_FILES, node.conf, dirs_exist_ok=True)
        os.chmod(node.conf / "multus.d", 0o755)
        for path in node.conf.rglob("*"):
            if path.is_file():
                os.chmod(path, 0o644)
    return node


@pytest.mark.parametrize("stale", [True, False], ids=["stale-0644-files", "empty-directory"])
def test_auto_config_files_are_0600(tmp_path, start_supervisor, stale):
    node = create_node(tmp_path / "node", stale)

    supervisor = start_supervisor(*node.flags("--multus-conf-file=auto"), umask=0)
    assert supervisor.wait_log(STEADY_MARK), supervisor.log()

    assert file_mode(node.multus_conf) == 0o600
    assert file_mode(node.kubeconfig) == 0o600
    assert node.multus_conf.stat().st_uid == os.getuid()
    assert node.kubeconfig.stat().st_uid == os.getuid()
    assert file_mode(node.conf / "multus.d") in (0o755, 0o700)
    assert not (node.conf / "00-multus.conf.new").exists()
    assert not (node.conf / "multus.d" / "multus.kubeconfig.new").exists()
    assert temporary_files(node.conf) == []
    assert file_mode(node.conf / CALICO.name) == 0o644


def test_user_config_copy_is_0600(tmp_path, start_supervisor):
    node = create_node(tmp_path / "node", stale=True)
    source = tmp_path / "src" / USER_CONFIG.name
    source.parent.mkdir()
    shutil.copy(USER_CONFIG, source)
    os.chmod(source, 0o644)
    installed = node.conf / USER_CONFIG.name

    supervisor = start_supervisor(*node.flags(f"--multus-conf-file={source}"), umask=0)
    assert supervisor.wait_log(STEADY_MARK), supervisor.log()

    assert installed.read_bytes() == USER_CONFIG.read_bytes()
    assert file_mode(installed) == 0o600
    assert file_mode(node.kubeconfig) == 0o600
    assert installed.stat().st_uid == os.getuid()
    assert not (node.conf / "multus.d" / "multus.kubeconfig.new").exists()
    assert file_mode(source) == 0o644
    assert file_mode(node.conf / CALICO.name) == 0o644
