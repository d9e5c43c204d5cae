"""The command line: thin_entrypoint-style flags, usage errors, help and the diagram."""

from __future__ import annotations

import subprocess
import sys

import pytest

from supervisor.machine import STATES, TRANSITIONS
from tests.support import KUBERNETES_ENV


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {"PATH": "/usr/bin:/bin", **KUBERNETES_ENV, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "supervisor", *args], capture_output=True, text=True, env=environment, timeout=30
    )


def test_help_lists_every_flag():
    result = run_cli("--help")
    flags = [
        "--cni-bin-dir", "--cni-conf-dir", "--cni-version", "--multus-conf-file", "--multus-bin-file",
        "--multus-cni-conf-dir", "--skip-multus-binary-copy", "--multus-kubeconfig-file-host",
        "--multus-master-cni-file-name", "--namespace-isolation", "--global-namespaces",
        "--multus-autoconfig-dir", "--multus-log-to-stderr", "--multus-log-level", "--multus-log-file",
        "--override-network-name", "--cleanup-config-on-exit", "--skip-config-watch", "--rename-conf-file",
        "--readiness-indicator-file", "--additional-bin-dir", "--skip-tls-verify", "--force-cni-version",
        "--service-account-dir",
    ]
    assert result.returncode == 0
    missing = [flag for flag in flags if flag not in result.stdout]
    assert missing == []


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--multus-log-level=info"], ["--multus-log-level", "'info'", "debug, verbose, error, panic"]),
        (["--namespace-isolation=maybe"], ["--namespace-isolation", "'maybe'", "true, false"]),
        (["--skip-config-watch", "yes"], ["--skip-config-watch", "'yes'", "true, false"]),
        (["--resync-interval=-1"], ["--resync-interval", "'-1'", "from 0 to 86400"]),
        (["--resync-interval=1e10"], ["--resync-interval", "'1e10'", "from 0 to 86400"]),
        (["--debounce=inf"], ["--debounce", "'inf'", "from 0 to 10"]),
        (["--compare=md5"], ["--compare", "'md5'", "sha256, json"]),
        (["--force-cni-version"], ["--force-cni-version", "--cni-version"]),
        (["--no-such-flag"], ["--no-such-flag"]),
    ],
)
def test_invalid_value_exits_2(tmp_path, args, expected):
    result = run_cli(f"--cni-conf-dir={tmp_path}", *args)
    assert result.returncode == 2
    for text in expected:
        assert text in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_missing_kubernetes_service_exits_2(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "supervisor", f"--cni-conf-dir={tmp_path}"],
        capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, timeout=30,
    )
    assert result.returncode == 2
    assert "KUBERNETES_SERVICE_HOST" in result.stderr


def test_unknown_command_exits_2():
    result = run_cli("frobnicate")
    assert result.returncode == 2
    assert "'frobnicate'" in result.stderr


def test_diagram_built_from_machine():
    result = run_cli("diagram")
    assert result.returncode == 0
    assert result.stdout.splitlines()[3] == "stateDiagram-v2"
    for state in STATES:
        assert f'state "{state}" as {state}' in result.stdout
    for transition in TRANSITIONS:
        sources = transition["source"] if isinstance(transition["source"], list) else [transition["source"]]
        for source in sources:
            dest = transition["dest"] or source
            assert f"{source} --> {dest}: {transition['trigger']}" in result.stdout
