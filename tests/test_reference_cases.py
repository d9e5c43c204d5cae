"""Compatibility with recorded runs of Multus-CNI's ``thin_entrypoint``.

Each folder of ``tests/data/reference`` is one case: flags, environment, the
files in the CNI config directory and the bytes the supervisor must install.
``tests/data/reference/README.md`` describes the layout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import (
    DATA,
    KUBERNETES_ENV,
    WAIT_SECONDS,
    Node,
    NotifySocket,
    SupervisorProcess,
    atomic_write,
    wait_until,
)

REFERENCE = DATA / "reference"
ROOT_PLACEHOLDER = "@ROOT@"
INSTALLS = "installs expected_output"
WAITS = "writes no config, logs the reason, keeps running and waits for a usable input"
USAGE_ERROR = "exits with a usage error before writing anything"
MULTUS_CONF_NAMES = ("00-multus.conf", "00-multus.conflist")
READINESS_FLAG = "--readiness-indicator-file=/run/ready"
#: Values of --multus-log-level that thin_entrypoint accepts, as its error message lists them.
LOG_LEVELS = ("debug", "verbose", "error", "panic")
#: Content of the stand-in multus binary, which the supervisor copies to the CNI binary directory.
FAKE_BINARY = b"#!/bin/sh\nexit 0\n"
#: Command prefix that mounts its first argument over /run in a private mount
#: namespace, then execs the rest. unshare without --fork execs as well, so the
#: process the test signals is the supervisor.
#: NOTE: the mount needs CAP_SYS_ADMIN, so the readiness tests pass only as root.
PRIVATE_RUN = [
    "unshare",
    "--mount",
    "--propagation",
    "private",
    "sh",
    "-c",
    'mount --bind "$0" /run && exec "$@"',
]


@dataclass(frozen=True)
class Case:
    """One folder of ``tests/data/reference``."""

    name: str
    directory: Path
    flags: tuple[str, ...]
    env: dict[str, str]
    expect: str
    output_name: str | None

    @classmethod
    def load(cls, directory: Path) -> Case:
        spec = json.loads((directory / "case.json").read_text())
        return cls(
            name=directory.name,
            directory=directory,
            flags=tuple(spec["flags"]),
            env=spec["env"],
            expect=spec["expect"],
            output_name=spec.get("output_name"),
        )

    @property
    def inputs(self) -> dict[str, bytes]:
        """Return the files placed in the CNI config directory, by name."""
        files = sorted((self.directory / "input").iterdir())
        return {path.name: path.read_bytes() for path in files}

    def expected(self, file_name: str, root: Path) -> bytes:
        """Return an expected file of the case with the placeholder replaced by *root*."""
        content = (self.directory / file_name).read_bytes()
        return content.replace(ROOT_PLACEHOLDER.encode(), os.fsencode(root))


@dataclass(frozen=True)
class Waiting:
    """What a case that must wait logs, and what it installs once fixed."""

    #: Texts that name the input and its problem. One log line and one systemd
    #: status must contain all of them, compared without regard to case.
    reason: tuple[str, ...]
    #: File installed after the file in ``fix/`` is written.
    output_name: str


CONF_DIR = f"{ROOT_PLACEHOLDER}/etc/cni/net.d"
WAITING = {
    "j2_master_file_name_missing": Waiting((f"{CONF_DIR}/99-missing.conf", "not found"), "00-multus.conf"),
    "l_cni_version_mismatch": Waiting((f"{CONF_DIR}/10-bridge.conf", "0.4.0", "0.3.1"), "00-multus.conf"),
    "n_missing_cniversion": Waiting((f"{CONF_DIR}/10-nover.conf", "cniVersion"), "00-multus.conf"),
    "o_no_master": Waiting((CONF_DIR, "not found"), "00-multus.conf"),
    "p_invalid_json_master": Waiting((f"{CONF_DIR}/10-broken.conf", "invalid JSON"), "00-multus.conf"),
}

CASES = [Case.load(directory) for directory in sorted(REFERENCE.iterdir()) if directory.is_dir()]


def select(predicate: Callable[[Case], bool]) -> list[object]:
    return [pytest.param(case, id=case.name) for case in CASES if predicate(case)]


def flag_value(flags: list[str], name: str) -> str | None:
    """Return the value of *name* given as ``--name=value`` or ``--name value``."""
    for index, flag in enumerate(flags):
        if flag.startswith(name + "="):
            return flag.split("=", 1)[1]
        if flag == name and index + 1 < len(flags):
            return flags[index + 1]
    return None


def prepare(case: Case, node: Node) -> list[str]:
    """Place the inputs of *case* on *node* and return the supervisor's flags."""
    for name, content in case.inputs.items():
        (node.conf / name).write_bytes(content)
    flags = [flag.replace(ROOT_PLACEHOLDER, str(node.root)) for flag in case.flags]
    flags.append(f"--service-account-dir={node.sa}")

    binary = Path(flag_value(flags, "--multus-bin-file") or "")
    binary.parent.mkdir(parents=True, exist_ok=True)
    binary.write_bytes(FAKE_BINARY)

    explicit_conf = flag_value(flags, "--multus-conf-file")
    if explicit_conf is not None and explicit_conf != "auto":
        target = Path(explicit_conf)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((case.directory / "given" / target.name).read_bytes())
    return flags


def line_with(text: str, words: list[str]) -> str | None:
    """Return the last line of *text* that contains every one of *words*, ignoring case."""
    lowered = [word.lower() for word in words]
    matches = [line for line in text.splitlines() if all(word in line.lower() for word in lowered)]
    return matches[-1] if matches else None


def assert_installed(case: Case, node: Node, output_name: str) -> None:
    """Wait for the Multus config, kubeconfig and binary, then compare their bytes."""
    output = node.conf / output_name
    binary = node.bin / "multus"
    assert wait_until(output.exists), f"{output} was not installed"
    assert wait_until(node.kubeconfig.exists), f"{node.kubeconfig} was not installed"
    assert wait_until(binary.exists), f"{binary} was not installed"

    assert output.read_bytes() == case.expected("expected_output", node.root)
    assert node.kubeconfig.read_bytes() == case.expected("expected_kubeconfig", node.root)
    assert binary.read_bytes() == FAKE_BINARY
    for name in MULTUS_CONF_NAMES:
        if name != output_name:
            assert not (node.conf / name).exists(), f"{name} exists next to {output_name}"


def supervisor_environment(extra: dict[str, str]) -> dict[str, str]:
    """Return the environment ``SupervisorProcess.start`` gives the supervisor."""
    ignored = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "JOURNAL_STREAM")
    environment = {key: value for key, value in os.environ.items() if key not in ignored}
    environment.update(KUBERNETES_ENV)
    environment.update(extra)
    return environment


@pytest.fixture
def node(tmp_path: Path) -> Node:
    # The recorded kubeconfigs embed a token file holding the five bytes TOKEN.
    return Node.create(tmp_path / "node", token="TOKEN")


@pytest.fixture(autouse=True)
def _no_inherited_protocol(monkeypatch: pytest.MonkeyPatch) -> None:
    # Only the cases that set KUBERNETES_SERVICE_PROTOCOL may have it.
    monkeypatch.delenv("KUBERNETES_SERVICE_PROTOCOL", raising=False)


def test_every_case_has_known_expectation() -> None:
    assert CASES, f"no case folders in {REFERENCE}"
    for case in CASES:
        assert case.expect in (INSTALLS, WAITS, USAGE_ERROR), f"{case.name}: unknown expect {case.expect!r}"
    waiting = {case.name for case in CASES if case.expect == WAITS}
    assert waiting == set(WAITING)


@pytest.mark.parametrize("case", select(lambda case: case.expect == INSTALLS and READINESS_FLAG not in case.flags))
def test_installs_expected_output(
    case: Case, node: Node, start_supervisor: Callable[..., SupervisorProcess]
) -> None:
    flags = prepare(case, node)
    supervisor = start_supervisor(*flags, env=case.env)
    assert case.output_name is not None
    assert_installed(case, node, case.output_name)

    if "--rename-conf-file" in flags:
        for name, content in case.inputs.items():
            renamed = node.conf / f"{name}.old"
            assert wait_until(renamed.exists), f"{name} was not renamed to {renamed.name}"
            assert renamed.read_bytes() == content
            assert not (node.conf / name).exists(), f"{name} still exists after the rename"

    explicit_conf = flag_value(flags, "--multus-conf-file")
    if explicit_conf is not None and explicit_conf != "auto":
        copy = node.conf / Path(explicit_conf).name
        assert copy.read_bytes() == Path(explicit_conf).read_bytes()

    assert supervisor.running(), supervisor.log()
    assert supervisor.stop() == 0


@pytest.mark.parametrize("case", select(lambda case: case.expect == INSTALLS and READINESS_FLAG in case.flags))
def test_installs_after_readiness_file(
    case: Case, node: Node, start_supervisor: Callable[..., SupervisorProcess], tmp_path: Path
) -> None:
    flags = prepare(case, node)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    supervisor = start_supervisor(*flags, env=case.env, wrapper=[*PRIVATE_RUN, str(run_dir)])
    assert case.output_name is not None

    assert wait_until(lambda: line_with(supervisor.log(), ["/run/ready"])), supervisor.log()
    assert supervisor.running(), supervisor.log()
    assert not (node.conf / case.output_name).exists(), f"{case.output_name} installed before /run/ready exists"
    assert not node.kubeconfig.exists(), "kubeconfig installed before /run/ready exists"

    (run_dir / "ready").touch()
    assert_installed(case, node, case.output_name)
    assert supervisor.running(), supervisor.log()
    assert supervisor.stop() == 0


@pytest.mark.parametrize("case", select(lambda case: case.expect == WAITS))
def test_waits_for_usable_input(
    case: Case,
    node: Node,
    start_supervisor: Callable[..., SupervisorProcess],
    notify_socket: NotifySocket,
) -> None:
    waiting = WAITING[case.name]
    reason = [word.replace(ROOT_PLACEHOLDER, str(node.root)) for word in waiting.reason]
    inputs = case.inputs
    flags = prepare(case, node)
    supervisor = start_supervisor(*flags, env={**case.env, "NOTIFY_SOCKET": str(notify_socket.path)})

    assert wait_until(lambda: line_with(supervisor.log(), reason)), f"no log line contains {reason}:\n{supervisor.log()}"

    def statuses() -> str:
        return "\n".join(line for line in notify_socket.lines() if line.startswith("STATUS="))

    assert wait_until(lambda: line_with(statuses(), reason)), f"no systemd status contains {reason}: {statuses()}"
    for name, content in inputs.items():
        assert (node.conf / name).read_bytes() == content, f"input {name} changed while waiting"
    for name in MULTUS_CONF_NAMES:
        if name not in inputs:
            assert not (node.conf / name).exists(), f"{name} written while waiting"
    assert not node.kubeconfig.exists(), "kubeconfig written while waiting"
    assert not (node.bin / "multus").exists(), "multus binary copied while waiting"
    assert supervisor.running(), supervisor.log()
    assert "Traceback" not in supervisor.log()

    fixes = sorted((case.directory / "fix").iterdir())
    assert len(fixes) == 1, f"expected one file in {case.directory / 'fix'}"
    atomic_write(node.conf / fixes[0].name, fixes[0].read_bytes())
    assert_installed(case, node, waiting.output_name)
    assert supervisor.running(), supervisor.log()
    assert "Traceback" not in supervisor.log()
    assert supervisor.stop() == 0


@pytest.mark.parametrize("case", select(lambda case: case.expect == USAGE_ERROR))
def test_bad_log_level_is_usage_error(case: Case, node: Node) -> None:
    flag = "--multus-log-level"
    flags = prepare(case, node)
    value = flag_value(flags, flag)
    assert value is not None
    result = subprocess.run(
        [sys.executable, "-m", "supervisor", *flags],
        env=supervisor_environment(case.env),
        capture_output=True,
        text=True,
        timeout=WAIT_SECONDS,
        check=False,
    )

    assert result.returncode == 2, result.stderr
    message = line_with(result.stderr, [flag, value])
    assert message is not None, f"no stderr line names both {flag} and {value!r}: {result.stderr}"
    assert f"'{value}'" in message or f'"{value}"' in message, message
    allowed = message.split(flag, 1)[1]
    for level in LOG_LEVELS:
        assert level in allowed, f"allowed value {level} missing: {message}"
    assert sorted(os.listdir(node.conf)) == sorted(case.inputs), "files written to the CNI config directory"
    assert os.listdir(node.bin) == [], "files written to the CNI binary directory"
