"""A token rotated by kubelet's symlink swap refreshes the kubeconfig.

kubelet projects the service account as ``token -> ..data/token`` and
``..data -> ..<timestamp>``. It rotates by writing a new timestamped
directory and renaming a new ``..data`` symlink over the old one, so the
path ``token`` and its own symlink never change. The supervisor must notice
the swap, must ride out a moment in which the token is missing or empty
without exiting or losing its files, and must never write under the
service-account directory.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from tests.support import (
    COMMON,
    QUIET_SECONDS,
    STEADY_MARK,
    DirectoryEvent,
    DirectoryEvents,
    FilePoller,
    Node,
    create_case_node,
    kubeconfig_value,
    read_or_none,
    wait_until,
)

#: The CA stays the same through every rotation here.
CA = COMMON / "sa" / "ca.crt"
TOKEN_A = "token-A-0000000000000000"
TOKEN_B = "token-B-1111111111111111"
FIRST = "..2025_01_01_00_00_00.000000001"
SECOND = "..2025_01_01_01_00_00.000000002"
#: Timestamped directory of a rotation that leaves the token unusable for a moment.
BROKEN = "..2025_01_01_00_30_00.000000009"
#: Events on data directories that removing them (``rm -rf``) causes.
REMOVAL_FLAGS = {"DELETE", "DELETE_SELF", "IGNORED"}


def populate(directory: Path, token: bytes, ca: bytes) -> None:
    directory.mkdir()
    (directory / "token").write_bytes(token)
    (directory / "ca.crt").write_bytes(ca)


def create_projected_account(sa: Path) -> None:
    """Replace the plain files in *sa* by kubelet's layout of a projected volume."""
    token = (sa / "token").read_bytes()
    ca = (sa / "ca.crt").read_bytes()
    (sa / "token").unlink()
    (sa / "ca.crt").unlink()
    populate(sa / FIRST, token, ca)
    os.symlink(FIRST, sa / "..data")
    os.symlink("..data/token", sa / "token")
    os.symlink("..data/ca.crt", sa / "ca.crt")


def point_data_link(sa: Path, target: str) -> None:
    """Point ``..data`` at *target* atomically, as ``ln -s`` and ``mv -T`` do."""
    os.symlink(target, sa / "..data_tmp")
    os.rename(sa / "..data_tmp", sa / "..data")


@pytest.fixture
def node(tmp_path: Path) -> Node:
    node = create_case_node(tmp_path / "node")
    create_projected_account(node.sa)
    shutil.copy(COMMON / "10-calico.conflist", node.conf)
    return node


@pytest.fixture
def sa_events(node: Node):
    events = DirectoryEvents()
    events.watch(node.sa)
    events.watch(node.sa / FIRST)
    yield events
    events.close()


def flags(node: Node) -> list[str]:
    return node.flags(
        "--multus-conf-file=auto",
        "--skip-multus-binary-copy=true",
        "--cleanup-config-on-exit=true",
    )


def kubeconfig_token(content: bytes | None) -> str | None:
    return None if content is None else kubeconfig_value(content.decode(), "token")


def writes_by_others(events: list[DirectoryEvent], sa: Path) -> list[DirectoryEvent]:
    """Return the events under *sa* that the test's own swaps and removals do not explain."""
    own_names = {"..data", "..data_tmp", FIRST, SECOND, BROKEN}
    unexplained = []
    for event in events:
        if event.directory == sa:
            if event.name not in own_names:
                unexplained.append(event)
        elif not event.flags <= REMOVAL_FLAGS:
            unexplained.append(event)
    return unexplained


def rotate_to_token_b(node: Node, events: DirectoryEvents, *obsolete: str) -> None:
    """Rotate as kubelet does: populate a new directory, swap ``..data``, remove the old directories."""
    populate(node.sa / SECOND, (COMMON / "token-B").read_bytes(), CA.read_bytes())
    events.watch(node.sa / SECOND)
    point_data_link(node.sa, SECOND)
    for name in obsolete:
        shutil.rmtree(node.sa / name)


def test_swap_refreshes_token(node, sa_events, start_supervisor):
    supervisor = start_supervisor(*flags(node))
    assert supervisor.wait_log(STEADY_MARK)
    assert kubeconfig_token(read_or_none(node.kubeconfig)) == TOKEN_A
    token_link = os.lstat(node.sa / "token")
    config = node.multus_conf.read_bytes()

    with FilePoller([node.multus_conf, node.kubeconfig]) as poller:
        rotate_to_token_b(node, sa_events, FIRST)
        assert wait_until(lambda: kubeconfig_token(read_or_none(node.kubeconfig)) == TOKEN_B)
        time.sleep(QUIET_SECONDS)
    tokens = {kubeconfig_token(content) for content in poller.seen(node.kubeconfig)}

    assert supervisor.running()
    assert os.lstat(node.sa / "token").st_ino == token_link.st_ino
    assert node.multus_conf.read_bytes() == config
    assert set(poller.seen(node.multus_conf)) == {config}
    assert tokens <= {TOKEN_A, TOKEN_B}
    assert writes_by_others(sa_events.read(), node.sa) == []


def break_token(node: Node, kind: str) -> str:
    """Make the token unusable in the way named by *kind* and return the log text of the failure."""
    if kind == "dangling-data-link":
        point_data_link(node.sa, BROKEN)
        return "service-account token not found"
    populate(node.sa / BROKEN, b"", CA.read_bytes())
    point_data_link(node.sa, BROKEN)
    return "is empty"


@pytest.mark.parametrize("kind", ["dangling-data-link", "empty-token"])
def test_unusable_token_keeps_files(node, sa_events, start_supervisor, kind):
    supervisor = start_supervisor(*flags(node))
    assert supervisor.wait_log(STEADY_MARK)
    config = node.multus_conf.read_bytes()
    kubeconfig = node.kubeconfig.read_bytes()

    with FilePoller([node.multus_conf, node.kubeconfig]) as poller:
        poller.phase = "token unusable"
        failure = break_token(node, kind)
        assert supervisor.wait_log(failure)
        time.sleep(QUIET_SECONDS)
        assert supervisor.running()

        poller.phase = "token rotated"
        obsolete = [name for name in (FIRST, BROKEN) if (node.sa / name).is_dir()]
        rotate_to_token_b(node, sa_events, *obsolete)
        assert wait_until(lambda: kubeconfig_token(read_or_none(node.kubeconfig)) == TOKEN_B)
    tokens = {kubeconfig_token(content) for content in poller.seen(node.kubeconfig)}

    assert supervisor.running()
    assert set(poller.seen(node.multus_conf)) == {config}
    assert set(poller.seen(node.kubeconfig, "token unusable")) == {kubeconfig}
    assert tokens <= {TOKEN_A, TOKEN_B}
    assert writes_by_others(sa_events.read(), node.sa) == []
