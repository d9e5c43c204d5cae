"""The example plugins under examples/plugins, installed as a plugin author installs them.

A fresh virtual environment gets multus-config and both examples from their
folders through pip, which downloads build dependencies such as hatchling
from the package index. Each example's own tests then run inside it, and the
environment's ``multus-config render`` shows what each plugin changes.
Both examples share the environment, as they would on a node, so each suite
also shows that it passes with the other plugin loaded.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import KUBERNETES_ENV, Node

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "plugins"
TUNING = EXAMPLES / "multus-config-tuning"
BINARY_CHECK = EXAMPLES / "multus-config-binary-check"
#: Upper bound for one pip or pytest run, so that a stalled download fails
#: the test instead of hanging the suite.
TIMEOUT_SECONDS = 600

PRIMARY = (
    '{"cniVersion": "1.0.0", "name": "pod-net", "plugins": [{"type": "bridge",'
    ' "ipam": {"type": "host-local", "subnet": "10.1.0.0/16"}}]}'
)
TUNING_LINE = '+    }, {"sysctl":{"net.core.somaxconn":"500"},"type":"tuning"}]\n'


def clean_environment(**extra: str) -> dict[str, str]:
    """Return this process's environment without variables that point Python, systemd or multus-config elsewhere."""
    dropped = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "NOTIFY_SOCKET", "WATCHDOG_USEC", "JOURNAL_STREAM")
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in dropped and not key.startswith("MULTUS_CONFIG_")
    }
    # Keeps the example folders free of __pycache__ directories.
    environment["PYTHONDONTWRITEBYTECODE"] = "1"
    environment.update(extra)
    return environment


def run(command: list[str], cwd: Path, **extra_env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        cwd=cwd,
        env=clean_environment(**extra_env),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Create a virtual environment with multus-config and both examples installed from their folders."""
    root = tmp_path_factory.mktemp("example-plugins") / "venv"
    created = run([sys.executable, "-m", "venv", str(root)], cwd=root.parent)
    assert created.returncode == 0, created.stderr
    install = [
        str(root / "bin" / "python"), "-m", "pip", "install", "--quiet",
        str(REPO), f"{TUNING}[test]", f"{BINARY_CHECK}[test]",
    ]
    installed = run(install, cwd=root.parent)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return root


@pytest.fixture
def node(tmp_path: Path) -> Node:
    """A node whose primary config list needs the bridge and host-local binaries."""
    node = Node.create(tmp_path / "node")
    (node.conf / "10-pod-net.conflist").write_text(PRIMARY)
    return node


def install_cni_binaries(node: Node, *names: str) -> None:
    for name in names:
        path = node.bin / name
        path.write_text("#!/bin/sh\nexit 0\n")
        os.chmod(path, 0o755)


def render(venv: Path, node: Node, *flags: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    command = [str(venv / "bin" / "multus-config"), "render", *node.flags(*flags)]
    return run(command, cwd=node.root, **KUBERNETES_ENV, **extra_env)


def test_packages_come_from_venv(venv):
    script = "import supervisor, multus_config_tuning, multus_config_binary_check as b; print(supervisor.__file__); print(multus_config_tuning.__file__); print(b.__file__)"
    result = run([str(venv / "bin" / "python"), "-c", script], cwd=venv)
    assert result.returncode == 0, result.stderr
    site_packages = str(venv / "lib")
    for path in result.stdout.splitlines():
        assert path.startswith(site_packages), path


@pytest.mark.parametrize("example", [TUNING, BINARY_CHECK], ids=["tuning", "binary-check"])
def test_example_suite_passes(venv, example):
    command = [str(venv / "bin" / "python"), "-m", "pytest", "-p", "no:cacheprovider", "-q", str(example / "tests")]
    result = run(command, cwd=example)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    summary = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"\d+ passed in [0-9.]+s( \(\d+:\d+:\d+\))?", summary), output


def test_tuning_render_chains_tuning(venv, node):
    install_cni_binaries(node, "bridge", "host-local", "tuning")

    with_tuning = render(venv, node, "--tuning-sysctl=net.core.somaxconn=500")
    assert with_tuning.returncode == 1, with_tuning.stderr
    assert TUNING_LINE in with_tuning.stdout

    without = render(venv, node)
    assert without.returncode == 1, without.stderr
    assert "+    }]\n" in without.stdout
    assert '"type":"tuning"' not in without.stdout


def test_binary_check_render_rejects_missing(venv, node):
    install_cni_binaries(node, "bridge", "host-local")

    rejected = render(venv, node, "--tuning-sysctl=net.core.somaxconn=500")
    expected = (
        f"multus-config render: CNI plugin binary 'tuning' (chained after multus) not found in "
        f"{node.bin}; install it there or add its directory to --binary-check-extra-dirs\n"
    )
    assert rejected.returncode == 2, rejected.stdout
    assert expected in rejected.stderr
    assert rejected.stdout == ""

    blocked = render(venv, node, "--tuning-sysctl=net.core.somaxconn=500", MULTUS_CONFIG_BLOCK_PLUGINS="binary-check")
    assert blocked.returncode == 1, blocked.stderr
    assert TUNING_LINE in blocked.stdout

    install_cni_binaries(node, "tuning")
    accepted = render(venv, node, "--tuning-sysctl=net.core.somaxconn=500")
    assert accepted.returncode == 1, accepted.stderr
    assert TUNING_LINE in accepted.stdout
