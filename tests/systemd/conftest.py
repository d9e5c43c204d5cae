"""Fixtures: a systemd container seeded with the unit file and a bare-metal node layout."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tests.support import DATA
from tests.systemd.container import runtime_paths, Seed, SystemdContainer, missing_requirements

REPOSITORY = Path(__file__).resolve().parents[2]
UNIT = "multus-config.service"
UNIT_FILE = REPOSITORY / UNIT
#: The console script of the environment that runs the tests. The container
#: reads the host's files through its overlay, so ExecStart can run it.
SUPERVISOR = Path(sys.executable).parent / "multus-config"
HANG_PLUGIN_DIR = Path(__file__).resolve().parent / "hang_plugin"

#: Paths of the node layout, as the unit's defaults name them.
CONF_DIR = "/etc/cni/net.d"
PRIMARY = f"{CONF_DIR}/10-calico.conflist"
MULTUS_CONF = f"{CONF_DIR}/00-multus.conf"
KUBECONFIG = f"{CONF_DIR}/multus.d/multus.kubeconfig"
BIN_DIR = "/opt/cni/bin"
MULTUS_BINARY = f"{BIN_DIR}/multus"
MULTUS_BINARY_SOURCE = "/opt/multus-config/libexec/multus"
SERVICE_ACCOUNT_DIR = "/etc/multus-config/serviceaccount"
DEFAULTS_FILE = "/etc/default/multus-config"
CONFIG_FILE = "/etc/multus-config/config.toml"
#: The configuration file the bare-metal install script puts in place.
PACKAGED_CONFIG = REPOSITORY / "packaging" / "bare-metal" / "config.toml"
DROP_IN = f"/etc/systemd/system/{UNIT}.d/test.conf"
HOME_DROP_IN = f"/etc/systemd/system/{UNIT}.d/home.conf"

FLAGS = (
    f"--cni-conf-dir={CONF_DIR}",
    f"--multus-autoconfig-dir={CONF_DIR}",
    f"--cni-bin-dir={BIN_DIR}",
    f"--multus-bin-file={MULTUS_BINARY_SOURCE}",
    f"--service-account-dir={SERVICE_ACCOUNT_DIR}",
    "--cleanup-config-on-exit",
)
KUBERNETES_ENV = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": "6443"}
NODE_DEFAULTS = {**KUBERNETES_ENV, "MULTUS_CONFIG_ARGS": " ".join(FLAGS)}
BINARY_CONTENT = b"#!/bin/sh\n# stands in for the multus CNI binary\nexit 0\n"
HOME_DIRECTORIES = (Path("/home"), Path("/root"), Path("/run/user"))


def write_defaults(seed: Seed, variables: Mapping[str, str]) -> None:
    """Write /etc/default/multus-config, the unit's EnvironmentFile=, with *variables*."""
    lines = [f'{name}="{value}"' for name, value in variables.items()]
    seed.write(DEFAULTS_FILE, "\n".join(lines) + "\n")


def write_drop_in(seed: Seed, *service_lines: str) -> None:
    """Add settings to the [Service] section through a drop-in file."""
    seed.write(DROP_IN, "[Service]\n" + "".join(f"{line}\n" for line in service_lines))


_runtime_paths = runtime_paths
#: Directories that the unit's PrivateTmp=yes replaces with empty ones.
TEMPORARY_DIRECTORIES = (Path("/tmp"), Path("/var/tmp"))


def _home_drop_in_lines() -> list[str]:
    """Return settings that expose the test environment where the unit's sandbox hides it.

    The unit's ProtectHome=yes hides /home, /root and /run/user, where an
    interpreter installed by pyenv or a developer's checkout may live, and
    PrivateTmp=yes hides a checkout under /tmp. ProtectHome=tmpfs with
    BindReadOnlyPaths= brings back only those directories.
    """
    hidden_roots = (*HOME_DIRECTORIES, *TEMPORARY_DIRECTORIES)
    hidden = sorted(path for path in _runtime_paths() if any(path.is_relative_to(root) for root in hidden_roots))
    if not hidden:
        return []
    lines = ["BindReadOnlyPaths=" + " ".join(str(path) for path in hidden)]
    if any(path.is_relative_to(home) for path in hidden for home in HOME_DIRECTORIES):
        lines.insert(0, "ProtectHome=tmpfs")
    return lines


def seed_node(seed: Seed) -> None:
    """Lay out a bare-metal node: the unit, its inputs and the supervisor's executable."""
    seed.write(f"/etc/systemd/system/{UNIT}", UNIT_FILE.read_text())
    seed.symlink("/opt/multus-config/bin/multus-config", SUPERVISOR)
    seed.write(MULTUS_BINARY_SOURCE, BINARY_CONTENT, mode=0o755)
    seed.write(PRIMARY, (DATA / "calico.conflist").read_text())
    seed.write(f"{SERVICE_ACCOUNT_DIR}/token", "TOKEN", mode=0o600)
    seed.write(f"{SERVICE_ACCOUNT_DIR}/ca.crt", (DATA / "ca.crt").read_bytes())
    write_defaults(seed, NODE_DEFAULTS)
    home_lines = _home_drop_in_lines()
    if home_lines:
        seed.write(HOME_DROP_IN, "[Service]\n" + "\n".join(home_lines) + "\n")


def remove_drop_ins(seed: Seed) -> None:
    """Remove every drop-in, so that systemd loads the unit file exactly as shipped."""
    shutil.rmtree(seed.host_path(f"/etc/systemd/system/{UNIT}.d"), ignore_errors=True)


def _environment_problem() -> str | None:
    if not SUPERVISOR.exists():
        return f"{SUPERVISOR} not found. Run the tests with the Python of the environment that has multus-config installed"
    # The container's root is an overlay of the host's root file system only, so
    # files on other mounts are not visible inside.
    root_device = os.stat("/").st_dev
    for path in sorted(_runtime_paths()):
        if os.stat(path).st_dev != root_device:
            return f"{path} is not on the root file system, so the container cannot read it"
    return None


@pytest.fixture
def container(tmp_path: Path) -> Iterator[SystemdContainer]:
    """Return a container seeded with the node layout, which the test boots after changing the seed."""
    reason = missing_requirements() or _environment_problem()
    if reason is not None:
        pytest.skip(reason)
    system = SystemdContainer(tmp_path / "container")
    seed_node(system.seed)
    yield system
    system.shutdown()
