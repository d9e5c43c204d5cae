"""The binary check in a real supervisor: rejected renders keep the last good config."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from plugins.testing import (
    NotifySocket,
    SupervisorProcess,
    atomic_write,
    read_or_none,
    wait_until,
)

KUBECONFIG_HOST = "/etc/cni/net.d/multus.d/multus.kubeconfig"
HINT = "install it there or add its directory to --binary-check-extra-dirs"
HINT_PLURAL = "install them there or add their directories to --binary-check-extra-dirs"
KEEPING = "(keeping the installed files; waiting for the input to change)"
NOTHING_YET = "(nothing installed yet; waiting for the input to change)"


def primary_conflist(name: str, mtu: int) -> str:
    """Return a primary config list: bridge with host-local IPAM, then portmap."""
    return json.dumps(
        {
            "cniVersion": "1.0.0",
            "name": name,
            "plugins": [
                {"type": "bridge", "bridge": "cni0", "mtu": mtu, "ipam": {"type": "host-local", "subnet": "10.1.0.0/16"}},
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
        }
    )


def expected_conflist(name: str, mtu: int, bin_dir: Path | None = None) -> str:
    """Return the 00-multus.conflist multus-config renders for ``primary_conflist(name, mtu)``."""
    bin_line = f'        "binDir": "{bin_dir}",\n' if bin_dir else ""
    delegate = (
        f'{{"cniVersion":"1.0.0","name":"{name}","plugins":[{{"bridge":"cni0",'
        f'"ipam":{{"subnet":"10.1.0.0/16","type":"host-local"}},"mtu":{mtu},"type":"bridge"}},'
        '{"capabilities":{"portMappings":true},"type":"portmap"}]}'
    )
    return (
        "{\n"
        '    "cniVersion": "1.0.0",\n'
        '    "name": "multus-cni-network",\n'
        '    "plugins": [ {\n'
        '        "type": "multus",\n'
        '        "capabilities": {"portMappings":true},\n'
        f"{bin_line}"
        f'        "kubeconfig": "{KUBECONFIG_HOST}",\n'
        '        "delegates": [\n'
        f"            {delegate}\n"
        "        ]\n"
        "    }]\n"
        "}\n"
    )


PRIMARY_CONF = '{"cniVersion": "0.4.0", "name": "net-c", "type": "bridge", "ipam": {"type": "host-local"}}'
EXPECTED_CONF = (
    "{\n"
    '        "cniVersion": "0.4.0",\n'
    '        "name": "multus-cni-network",\n'
    '        "type": "multus",\n'
    f'        "kubeconfig": "{KUBECONFIG_HOST}",\n'
    '        "delegates": [\n'
    '                {"cniVersion":"0.4.0","ipam":{"type":"host-local"},"name":"net-c","type":"bridge"}\n'
    "        ]\n"
    "}\n"
)


def install_binary(directory: Path, name: str, mode: int = 0o755) -> Path:
    """Install a stand-in CNI plugin binary by writing it aside and renaming it into place."""
    staging = directory.parent / f".{name}.staging"
    staging.write_text("#!/bin/sh\nexit 0\n")
    os.chmod(staging, mode)
    path = directory / name
    os.rename(staging, path)
    return path


def read_state(process: SupervisorProcess) -> dict[str, Any]:
    """Return the supervisor's state file, which contains every plugin's describe output."""
    flag = next(arg for arg in process.args if arg.startswith("--state-file="))
    text = read_or_none(Path(flag.split("=", 1)[1]))
    return json.loads(text) if text else {}


def wait_draining(notify: NotifySocket, predicate: Callable[[], object]) -> bool:
    """Wait until *predicate* is true, reading the notify socket meanwhile.

    The supervisor's sd_notify call blocks once 10 datagrams (the default
    net.unix.max_dgram_qlen) wait unread, so a wait for anything else must
    keep that queue empty.
    """

    def drained_check() -> object:
        notify.receive()
        return predicate()

    return wait_until(drained_check)


def wait_for_log(notify: NotifySocket, supervisor: SupervisorProcess, text: str) -> bool:
    return wait_draining(notify, lambda: text in supervisor.log())


def file_is(path: Path, content: str) -> bool:
    return read_or_none(path) == content.encode()


def test_missing_binary_keeps_last_good_config(multus_node, multus_supervisor, multus_notify):
    node = multus_node
    for name in ("bridge", "host-local", "portmap"):
        install_binary(node.bin, name)
    (node.conf / "10-net.conflist").write_text(primary_conflist("net-a", 1500))
    supervisor = multus_supervisor(*node.flags())

    assert multus_notify.wait_for("READY=1"), supervisor.log()
    assert node.multus_conflist.read_text() == expected_conflist("net-a", 1500)
    assert read_state(supervisor)["binary_check_missing"] == []

    os.rename(node.bin / "portmap", node.bin / "portmap.disabled")
    missing_a = f"CNI plugin binary 'portmap' (needed by delegate 'net-a') not found in {node.bin}; {HINT}"
    assert wait_for_log(multus_notify, supervisor, f"Cannot render: {missing_a} {KEEPING}"), supervisor.log()

    # The changed primary is rendered, and rejected, because portmap is still missing.
    atomic_write(node.conf / "10-net.conflist", primary_conflist("net-b", 1400))
    missing_b = f"CNI plugin binary 'portmap' (needed by delegate 'net-b') not found in {node.bin}; {HINT}"
    assert wait_for_log(multus_notify, supervisor, f"Cannot render: {missing_b} {KEEPING}"), supervisor.log()
    assert node.multus_conflist.read_text() == expected_conflist("net-a", 1500)
    assert wait_draining(multus_notify, lambda: read_state(supervisor).get("last_error") == f"waiting: {missing_b}")
    state = read_state(supervisor)
    assert state["last_error_kind"] == "missing-binary"
    assert state["binary_check_missing"] == ["portmap"]

    os.rename(node.bin / "portmap.disabled", node.bin / "portmap")
    assert wait_draining(multus_notify, lambda: file_is(node.multus_conflist, expected_conflist("net-b", 1400))), supervisor.log()
    assert wait_for_log(multus_notify, supervisor, "Inputs are usable again")
    assert wait_draining(multus_notify, lambda: read_state(supervisor).get("binary_check_missing") == [])
    assert supervisor.running()


def test_conf_delegate_and_ipam_checked(multus_node, multus_supervisor, multus_notify):
    node = multus_node
    (node.conf / "10-net.conf").write_text(PRIMARY_CONF)
    supervisor = multus_supervisor(*node.flags())

    both = (
        "CNI plugin binaries 'bridge' (needed by delegate 'net-c'), 'host-local' (needed by "
        f"delegate 'net-c') not found in {node.bin}; {HINT_PLURAL}"
    )
    assert wait_for_log(multus_notify, supervisor, f"Cannot render: {both} {NOTHING_YET}"), supervisor.log()

    install_binary(node.bin, "bridge")
    ipam = f"CNI plugin binary 'host-local' (needed by delegate 'net-c') not found in {node.bin}; {HINT}"
    assert wait_for_log(multus_notify, supervisor, f"Cannot render: {ipam} {NOTHING_YET}"), supervisor.log()
    assert not node.multus_conf.exists()
    assert "READY=1" not in multus_notify.lines()

    install_binary(node.bin, "host-local")
    assert multus_notify.wait_for("READY=1"), supervisor.log()
    assert node.multus_conf.read_text() == EXPECTED_CONF


def test_every_directory_searched_and_watched(multus_node, multus_supervisor, multus_notify):
    node = multus_node
    additional = node.root / "additional-bin"
    extra_present = node.root / "extra-bin"
    extra_later = node.root / "later" / "bin"
    additional.mkdir()
    extra_present.mkdir()
    install_binary(node.bin, "bridge")
    install_binary(extra_present, "host-local")
    (node.conf / "10-net.conflist").write_text(primary_conflist("net-a", 1500))
    supervisor = multus_supervisor(
        *node.flags(f"--additional-bin-dir={additional}", f"--binary-check-extra-dirs={extra_present}, {extra_later}")
    )

    searched = f"{node.bin}, {additional}, {extra_present}, {extra_later}"
    missing = f"CNI plugin binary 'portmap' (needed by delegate 'net-a') not found in {searched}; {HINT}"
    assert wait_for_log(multus_notify, supervisor, f"Cannot render: {missing} {NOTHING_YET}"), supervisor.log()
    directories = [str(node.bin), str(additional), str(extra_present), str(extra_later)]
    assert wait_draining(multus_notify, lambda: read_state(supervisor).get("binary_check_directories") == directories)

    # The directory does not exist yet, so it is watched through its parent.
    extra_later.mkdir(parents=True)
    install_binary(extra_later, "portmap")
    assert multus_notify.wait_for("READY=1"), supervisor.log()
    assert node.multus_conflist.read_text() == expected_conflist("net-a", 1500, bin_dir=additional)


def test_additional_bin_dir_counts(multus_node, multus_supervisor, multus_notify):
    node = multus_node
    additional = node.root / "additional-bin"
    additional.mkdir()
    install_binary(node.bin, "bridge")
    install_binary(node.bin, "host-local")
    (node.conf / "10-net.conflist").write_text(primary_conflist("net-a", 1500))
    supervisor = multus_supervisor(*node.flags(f"--additional-bin-dir={additional}"))

    missing = f"CNI plugin binary 'portmap' (needed by delegate 'net-a') not found in {node.bin}, {additional}; {HINT}"
    assert wait_for_log(multus_notify, supervisor, f"Cannot render: {missing} {NOTHING_YET}"), supervisor.log()

    install_binary(additional, "portmap")
    assert multus_notify.wait_for("READY=1"), supervisor.log()
    assert node.multus_conflist.read_text() == expected_conflist("net-a", 1500, bin_dir=additional)


def test_not_executable_binary_named(multus_node, multus_supervisor, multus_notify):
    node = multus_node
    install_binary(node.bin, "bridge")
    install_binary(node.bin, "host-local")
    portmap = install_binary(node.bin, "portmap", mode=0o644)
    (node.conf / "10-net.conflist").write_text(primary_conflist("net-a", 1500))
    supervisor = multus_supervisor(*node.flags())

    missing = (
        f"CNI plugin binary 'portmap' (needed by delegate 'net-a'; {portmap} is not executable) "
        f"not found in {node.bin}; {HINT}"
    )
    assert wait_for_log(multus_notify, supervisor, f"Cannot render: {missing} {NOTHING_YET}"), supervisor.log()

    os.chmod(portmap, 0o755)
    assert multus_notify.wait_for("READY=1"), supervisor.log()
    assert node.multus_conflist.read_text() == expected_conflist("net-a", 1500)


def test_symlinks_followed(multus_node, multus_supervisor, multus_notify):
    node = multus_node
    store = node.root / "store"
    store.mkdir()
    install_binary(node.bin, "bridge")
    install_binary(node.bin, "host-local")
    (node.bin / "portmap").symlink_to(store / "portmap")
    (node.conf / "10-net.conflist").write_text(primary_conflist("net-a", 1500))
    supervisor = multus_supervisor(*node.flags())

    # A dangling symlink is not a binary.
    missing = f"CNI plugin binary 'portmap' (needed by delegate 'net-a') not found in {node.bin}; {HINT}"
    assert wait_for_log(multus_notify, supervisor, f"Cannot render: {missing} {NOTHING_YET}"), supervisor.log()

    # The target appears outside the watched directory, so a SIGHUP renders again.
    install_binary(store, "portmap")
    supervisor.send(signal.SIGHUP)
    assert multus_notify.wait_for("READY=1"), supervisor.log()
    assert node.multus_conflist.read_text() == expected_conflist("net-a", 1500)


def test_type_with_slash_rejected(multus_node, multus_supervisor, multus_notify):
    node = multus_node
    primary = json.loads(primary_conflist("net-a", 1500))
    primary["plugins"][1]["type"] = "../portmap"
    (node.conf / "10-net.conflist").write_text(json.dumps(primary))
    supervisor = multus_supervisor(*node.flags())

    message = (
        "invalid CNI plugin type '../portmap' (needed by delegate 'net-a'): a type must be the "
        "file name of a binary in the CNI bin directories"
    )
    assert wait_for_log(multus_notify, supervisor, f"Cannot render: {message} {NOTHING_YET}"), supervisor.log()
    assert not node.multus_conflist.exists()


EXPECTED_DIRS = "(expected absolute directories separated by commas, such as /opt/cni/bin,/usr/lib/cni)"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("opt/cni/bin", f"--binary-check-extra-dirs: invalid value 'opt/cni/bin': not an absolute path {EXPECTED_DIRS}"),
        ("/a,,/b", f"--binary-check-extra-dirs: invalid value '/a,,/b': empty entry between commas {EXPECTED_DIRS}"),
    ],
    ids=["relative", "empty-entry"],
)
def test_invalid_extra_dirs_exit_2(multus_node, multus_supervisor, value, message):
    supervisor = multus_supervisor(*multus_node.flags(f"--binary-check-extra-dirs={value}"))

    assert supervisor.wait_exit() == 2
    assert f"multus-config: error: {message}\n" in supervisor.log()


@pytest.mark.parametrize(
    ("flags", "env"),
    [
        (["--block-plugins=binary-check"], {}),
        ([], {"MULTUS_CONFIG_BLOCK_PLUGINS": "binary-check"}),
    ],
    ids=["flag", "environment"],
)
def test_blocked_plugin_checks_nothing(multus_node, multus_supervisor, multus_notify, flags, env):
    node = multus_node
    (node.conf / "10-net.conflist").write_text(primary_conflist("net-a", 1500))
    supervisor = multus_supervisor(*node.flags(*flags), env=env)

    assert multus_notify.wait_for("READY=1"), supervisor.log()
    assert node.multus_conflist.read_text() == expected_conflist("net-a", 1500)
    assert "not found in" not in supervisor.log()
