"""Hostile inputs: the supervisor keeps running, reports each once and recovers.

Every test starts a supervisor on a node whose primary CNI config is
``tests/data/calico.conflist``, installed as ``20-calico.conflist``, and waits
for the steady state. Then it breaks one input and checks that:

1. the process keeps running;
2. one warning or error names the file and the reason, and later renders of
   the same input do not log it again;
3. the log contains no Python traceback;
4. the installed ``00-multus.conf`` and kubeconfig keep their bytes;
5. once the input is fixed, the fixed content is installed.

The primary config is broken in two ways. In ``test_bad_primary_config`` the
primary config itself gets the bad content, so nothing can be rendered. In
``test_bad_candidate_skipped`` and ``test_special_file_skipped`` a bad file
sorts before the primary config (``10-x.conf``). The container runtime skips
a candidate it cannot load, so the supervisor must skip it with a warning and
keep wrapping ``20-calico.conflist``.

The supervisors run with ``--log-level=debug``, so every render leaves a line
in the log and a test can wait for a later render before it checks that a
warning was not repeated.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import (
    DATA,
    STEADY_MARK,
    Node,
    SupervisorProcess,
    atomic_write,
    load_json_or_none,
    read_or_none,
    wait_until,
)

CALICO = (DATA / "calico.conflist").read_text()
CA = (DATA / "ca.crt").read_bytes()
PRIMARY = "20-calico.conflist"
#: Network name in the calico config list.
PRIMARY_NAME = "k8s-pod-network"
#: Name of a bad candidate, which sorts before PRIMARY and so is examined first.
BAD = "10-x.conf"
INITIAL_TOKEN = "initial-token-0001"
FIXED_TOKEN = "fixed-token-0002"
#: A valid single-plugin config that replaces a bad candidate when a test fixes it.
FIXED_CANDIDATE = {
    "cniVersion": "0.3.1",
    "name": "fixed-net",
    "type": "bridge",
    "bridge": "cni0",
    "ipam": {"type": "host-local", "subnet": "10.22.0.0/16"},
}
#: MTU of the primary config written when a test fixes it or changes it.
FIXED_MTU = 1400
#: Upper bound for the warning about a bad input. The supervisor renders at most
#: 0.1 s after an event (MAX_DEBOUNCE_DELAY in supervisor/loop.py), so this
#: only bounds a failing test.
REPORT_TIMEOUT = 5.0
PROBLEM_LEVEL = re.compile(r" (WARNING|ERROR|CRITICAL) ")
#: Log texts that each render writes exactly once at ``--log-level=debug``.
#: A successful render ends in the steady state and a failed one logs its reason.
RENDER_MARKS = (STEADY_MARK, "Cannot render:", "Render still failing:")


@pytest.fixture
def node(tmp_path: Path) -> Node:
    return Node.create(tmp_path / "node", token=INITIAL_TOKEN)


# -- inputs ---------------------------------------------------------------------------


def calico_with(edit: Callable[[dict[str, Any]], object]) -> bytes:
    """Return the calico config list after *edit* changed its parsed document."""
    document = json.loads(CALICO)
    edit(document)
    return json.dumps(document, indent=2).encode()


def calico_text_with(old: str, new: str) -> bytes:
    """Return the calico config list with the text *old* replaced by *new*."""
    assert old in CALICO
    return CALICO.replace(old, new).encode()


def set_mtu(document: dict[str, Any], mtu: int) -> None:
    document["plugins"][0]["mtu"] = mtu


def set_key(document: dict[str, Any], key: str, value: Any) -> None:
    document[key] = value


def set_capability(document: dict[str, Any], value: Any) -> None:
    document["plugins"][1]["capabilities"]["portMappings"] = value


def nested_arrays(depth: int) -> bytes:
    """Return a bridge config whose ``args`` value is *depth* nested arrays."""
    head = b'{"cniVersion": "0.3.1", "name": "deep", "type": "bridge", "args": '
    return head + b"[" * depth + b"]" * depth + b"}"


def multus_inside_plugin(document: dict[str, Any]) -> None:
    """Hide a Multus config three levels below the first plugin."""
    document["plugins"][0]["extra"] = {
        "wrapped": {"inner": {"type": "multus", "kubeconfig": "/k"}}
    }


def huge_config() -> bytes:
    """Return a 50 MiB config: a valid document with one long string value."""
    padding = b"x" * (50 * 1024 * 1024)
    return (
        b'{"cniVersion": "0.3.1", "name": "huge", "type": "bridge", "pad": "'
        + padding
        + b'"}'
    )


FIXED_PRIMARY = calico_with(lambda document: set_mtu(document, FIXED_MTU))


@dataclass(frozen=True)
class BadContent:
    """Bad bytes for a CNI config file and the reason a clear message gives for them."""

    id: str
    content: Callable[[], bytes]
    #: Regular expression, matched case-insensitively, for the reason in the warning.
    reason: str
    #: Write the bytes into the existing file, as a writer that is not atomic does.
    in_place: bool = False
    flags: tuple[str, ...] = ()
    #: Whether a candidate with this content is skipped in favour of a later one.
    #: False for cniVersion errors, which stop the selection instead.
    skipped: bool = True


def constant(data: bytes) -> Callable[[], bytes]:
    return lambda: data


BAD_CONTENTS = [
    BadContent(
        "invalid-json",
        constant(calico_text_with("true}\n    }\n  ]", "true}\n    },\n  ]")),
        r"invalid JSON",
    ),
    BadContent(
        "truncated",
        constant(CALICO.encode()[: len(CALICO) // 2]),
        r"invalid JSON",
        in_place=True,
    ),
    BadContent(
        "utf8-bom", constant(b"\xef\xbb\xbf" + CALICO.encode()), r"byte order mark|BOM"
    ),
    BadContent("empty", constant(b""), r"empty", in_place=True),
    BadContent(
        "whitespace", constant(b" \n\t \r\n  \n"), r"empty|whitespace", in_place=True
    ),
    BadContent("50-mib", huge_config, r"too large"),
    BadContent(
        "binary",
        constant(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 16),
        r"UTF-8|binary",
    ),
    BadContent("nested-100000", constant(nested_arrays(100_000)), r"nested|deep"),
    # Python's JSON parser accepts this depth, but a recursive copy of the
    # document exceeds the default recursion limit of 1000.
    BadContent("nested-600", constant(nested_arrays(600)), r"nested|deep"),
    BadContent("top-array", constant(b'[{"type": "bridge"}]'), r"JSON object"),
    BadContent("top-string", constant(b'"calico"'), r"JSON object"),
    BadContent("top-number", constant(b"42"), r"JSON object"),
    BadContent("top-null", constant(b"null"), r"JSON object"),
    BadContent(
        "non-utf8",
        constant(CALICO.encode().replace(b'"node-1"', b'"node-\xff\xfe"')),
        r"UTF-8",
    ),
    BadContent("nan", constant(calico_text_with('"mtu": 0', '"mtu": NaN')), r"NaN"),
    BadContent(
        "infinity",
        constant(calico_text_with('"mtu": 0', '"mtu": Infinity')),
        r"Infinity",
    ),
    BadContent(
        "minus-infinity",
        constant(calico_text_with('"mtu": 0', '"mtu": -Infinity')),
        r"Infinity",
    ),
    # Valid JSON syntax but out of float64 range: Go's encoding/json rejects it
    # (convertNumber in decode.go) and Python's parser returns inf.
    BadContent(
        "number-1e400",
        constant(calico_text_with('"mtu": 0', '"mtu": 1e400')),
        r"1e400|range|number",
    ),
    # An integer beyond float64 range, rejected by Go like 1e400, though below
    # the 4300-digit limit of Python's int parsing.
    BadContent(
        "integer-400-digits",
        constant(calico_text_with('"mtu": 0', '"mtu": 1' + "0" * 400)),
        r"range|number",
    ),
    BadContent(
        "integer-5000-digits",
        constant(calico_text_with('"mtu": 0', '"mtu": ' + "9" * 5000)),
        r"digits|number",
    ),
    BadContent(
        "cniversion-number",
        constant(calico_with(lambda d: set_key(d, "cniVersion", 0.31))),
        r"cniVersion.*string",
    ),
    BadContent(
        "cniversion-bool",
        constant(calico_with(lambda d: set_key(d, "cniVersion", True))),
        r"cniVersion.*string",
    ),
    BadContent(
        "cniversion-null",
        constant(calico_with(lambda d: set_key(d, "cniVersion", None))),
        r"cniVersion.*string",
    ),
    BadContent(
        "cniversion-object",
        constant(calico_with(lambda d: set_key(d, "cniVersion", {"major": 0}))),
        r"cniVersion.*string",
    ),
    BadContent(
        "name-number",
        constant(calico_with(lambda d: set_key(d, "name", 7))),
        r"\bname\b.*string",
        flags=("--override-network-name",),
    ),
    BadContent(
        "type-number",
        constant(b'{"cniVersion": "0.3.1", "name": "n", "type": 5}'),
        r"\btype\b.*string",
    ),
    BadContent(
        "plugins-object",
        constant(calico_with(lambda d: set_key(d, "plugins", {"type": "calico"}))),
        r"plugins.*array",
    ),
    BadContent(
        "plugins-string",
        constant(calico_with(lambda d: set_key(d, "plugins", "calico"))),
        r"plugins.*array",
    ),
    BadContent(
        "plugins-empty",
        constant(calico_with(lambda d: set_key(d, "plugins", []))),
        r"plugins.*empty",
    ),
    BadContent(
        "plugins-non-objects",
        constant(calico_with(lambda d: set_key(d, "plugins", [1, "calico"]))),
        r"plugins\[0\].*object",
    ),
    BadContent(
        "plugin-type-missing",
        constant(calico_with(lambda d: d["plugins"][0].pop("type"))),
        r"plugins\[0\]\.type",
    ),
    BadContent(
        "capabilities-list",
        constant(
            calico_with(
                lambda d: set_key(d["plugins"][1], "capabilities", ["portMappings"])
            )
        ),
        r"capabilities.*object",
    ),
    BadContent(
        "capabilities-string",
        constant(
            calico_with(
                lambda d: set_key(d["plugins"][1], "capabilities", "portMappings")
            )
        ),
        r"capabilities.*object",
    ),
    BadContent(
        "capability-string",
        constant(calico_with(lambda d: set_capability(d, "true"))),
        r"portMappings.*boolean",
    ),
    BadContent(
        "capability-number",
        constant(calico_with(lambda d: set_capability(d, 1))),
        r"portMappings.*boolean",
    ),
    BadContent(
        "capability-null",
        constant(calico_with(lambda d: set_capability(d, None))),
        r"portMappings.*boolean",
    ),
    BadContent(
        "multus-type",
        constant(
            b'{"cniVersion": "0.3.1", "name": "m", "type": "multus", "kubeconfig": "/"}'
        ),
        r"Multus",
    ),
    BadContent(
        "multus-shim-plugin",
        constant(
            calico_with(lambda d: d["plugins"].insert(0, {"type": "multus-shim"}))
        ),
        r"Multus",
    ),
    BadContent(
        "multus-depth-3", constant(calico_with(multus_inside_plugin)), r"Multus"
    ),
    BadContent(
        "delegates-key",
        constant(
            json.dumps(
                {
                    "cniVersion": "0.3.1",
                    "name": "w",
                    "type": "wrapper",
                    "delegates": [json.loads(CALICO)],
                }
            ).encode()
        ),
        r"Multus",
    ),
    BadContent(
        "version-mismatch",
        constant(calico_with(lambda d: set_key(d, "cniVersion", "0.4.0"))),
        r"mismatch",
        flags=("--cni-version=0.3.1",),
        skipped=False,
    ),
    BadContent(
        "no-cniversion",
        constant(calico_with(lambda d: d.pop("cniVersion"))),
        r"no cniVersion|cniVersion.*missing",
        skipped=False,
    ),
]


# -- supervisor and log ---------------------------------------------------------------


@dataclass(frozen=True)
class Steady:
    """A supervisor in the steady state and the bytes it installed."""

    supervisor: SupervisorProcess
    multus_conf: bytes
    kubeconfig: bytes


def start_steady(
    node: Node, start_supervisor: Callable[..., SupervisorProcess], *flags: str
) -> Steady:
    """Install the calico primary config, start a supervisor, wait for steady state."""
    (node.conf / PRIMARY).write_text(CALICO)
    supervisor = start_supervisor(*node.flags("--log-level=debug", *flags))
    assert wait_until(lambda: STEADY_MARK in supervisor.log()), supervisor.log()
    multus_conf = read_or_none(node.multus_conf)
    kubeconfig = read_or_none(node.kubeconfig)
    assert multus_conf is not None, supervisor.log()
    assert kubeconfig is not None, supervisor.log()
    return Steady(supervisor, multus_conf, kubeconfig)


def problem_lines(supervisor: SupervisorProcess, needle: str) -> list[str]:
    """Return the warning and error messages that contain *needle*, minus timestamps."""
    return [
        line.split(" ", 2)[2]
        for line in supervisor.log().splitlines()
        if needle in line and PROBLEM_LEVEL.search(line)
    ]


def render_count(supervisor: SupervisorProcess) -> int:
    log = supervisor.log()
    return sum(log.count(mark) for mark in RENDER_MARKS)


def render_again(node: Node, supervisor: SupervisorProcess, times: int = 2) -> None:
    """Cause *times* more renders of unchanged inputs by writing an unrelated file."""
    for index in range(times):
        before = render_count(supervisor)
        (node.conf / "unrelated.txt").write_text(f"render {index}\n")
        rendered = wait_until(lambda: render_count(supervisor) > before)  # noqa: B023
        assert rendered, supervisor.log()


def expect_reported_once(
    node: Node, supervisor: SupervisorProcess, needle: str, reason: str
) -> None:
    """Check that a warning names *needle* with *reason* and is not repeated later."""
    pattern = re.compile(reason, re.IGNORECASE)

    def reported() -> bool:
        return any(pattern.search(line) for line in problem_lines(supervisor, needle))

    assert wait_until(reported, timeout=REPORT_TIMEOUT), (
        f"no warning names {needle} with a reason matching /{reason}/; "
        f"log:\n{supervisor.log()}"
    )
    first = problem_lines(supervisor, needle)
    assert len(first) == len(set(first)), (
        f"a warning about {needle} is repeated: {first}"
    )
    render_again(node, supervisor)
    assert problem_lines(supervisor, needle) == first, (
        f"later renders logged {needle} again"
    )


def expect_files_kept(node: Node, steady: Steady) -> None:
    assert read_or_none(node.multus_conf) == steady.multus_conf
    assert read_or_none(node.kubeconfig) == steady.kubeconfig


def expect_healthy(supervisor: SupervisorProcess) -> None:
    assert supervisor.running(), supervisor.log()
    assert "Traceback" not in supervisor.log()


def delegate(node: Node) -> dict[str, Any]:
    """Return the delegate of the installed 00-multus.conf, or an empty dict."""
    document = load_json_or_none(read_or_none(node.multus_conf))
    if not isinstance(document, dict) or not document.get("delegates"):
        return {}
    return document["delegates"][0]


def delegate_mtu(node: Node) -> object:
    plugins = delegate(node).get("plugins") or [{}]
    return plugins[0].get("mtu")


def kubeconfig_document(node: Node) -> dict[str, Any]:
    content = read_or_none(node.kubeconfig)
    document = yaml.safe_load(content) if content else None
    return document if isinstance(document, dict) else {}


def kubeconfig_token(node: Node) -> object:
    return kubeconfig_document(node).get("users", [{}])[0].get("user", {}).get("token")


def kubeconfig_ca(node: Node) -> bytes | None:
    cluster = kubeconfig_document(node).get("clusters", [{}])[0].get("cluster", {})
    data = cluster.get("certificate-authority-data")
    return base64.b64decode(data) if data else None


def write_bad(path: Path, kind: BadContent) -> None:
    data = kind.content()
    if kind.in_place:
        with open(path, "wb") as file:
            file.write(data)
    else:
        atomic_write(path, data)


def replace_with_fixed_candidate(path: Path) -> None:
    """Remove whatever is at *path* and write a valid config there."""
    if path.is_dir() and not path.is_symlink():
        path.rmdir()
    else:
        path.unlink()
    atomic_write(path, json.dumps(FIXED_CANDIDATE, indent=2))


# -- the primary config ---------------------------------------------------------------


@pytest.mark.parametrize("kind", BAD_CONTENTS, ids=[kind.id for kind in BAD_CONTENTS])
def test_bad_primary_config(node: Node, start_supervisor, kind: BadContent) -> None:
    steady = start_steady(node, start_supervisor, *kind.flags)
    supervisor = steady.supervisor
    primary = node.conf / PRIMARY

    write_bad(primary, kind)
    expect_reported_once(node, supervisor, str(primary), kind.reason)
    expect_healthy(supervisor)
    expect_files_kept(node, steady)

    atomic_write(primary, FIXED_PRIMARY)
    assert wait_until(lambda: delegate_mtu(node) == FIXED_MTU), supervisor.log()
    assert read_or_none(node.kubeconfig) == steady.kubeconfig
    expect_healthy(supervisor)
    assert supervisor.stop() == 0


SKIPPED_CONTENTS = [kind for kind in BAD_CONTENTS if kind.skipped]


@pytest.mark.parametrize(
    "kind", SKIPPED_CONTENTS, ids=[kind.id for kind in SKIPPED_CONTENTS]
)
def test_bad_candidate_skipped(node: Node, start_supervisor, kind: BadContent) -> None:
    steady = start_steady(node, start_supervisor, *kind.flags)
    supervisor = steady.supervisor
    bad = node.conf / BAD

    write_bad(bad, kind)
    expect_reported_once(node, supervisor, str(bad), kind.reason)
    expect_healthy(supervisor)
    expect_files_kept(node, steady)
    assert delegate(node).get("name") == PRIMARY_NAME

    replace_with_fixed_candidate(bad)
    assert wait_until(lambda: delegate(node).get("name") == "fixed-net"), (
        supervisor.log()
    )
    expect_healthy(supervisor)
    assert supervisor.stop() == 0


# -- entries that are not regular files -----------------------------------------------


@dataclass(frozen=True)
class SpecialFile:
    """A directory entry that is not a readable regular file."""

    id: str
    name: str
    create: Callable[[Node, Path], None]
    reason: str


def symlink_loop(node: Node, path: Path) -> None:
    os.symlink(path.name, path)


def symlink_to_dev_zero(node: Node, path: Path) -> None:
    os.symlink("/dev/zero", path)


def fifo(node: Node, path: Path) -> None:
    os.mkfifo(path)


def directory(node: Node, path: Path) -> None:
    path.mkdir()


def dangling_symlink(node: Node, path: Path) -> None:
    os.symlink(node.root / "no-such-config.conf", path)


SPECIAL_FILES = [
    SpecialFile("symlink-loop", BAD, symlink_loop, r"symbolic link|loop"),
    SpecialFile("dev-zero", BAD, symlink_to_dev_zero, r"not a regular file"),
    SpecialFile("fifo", BAD, fifo, r"not a regular file|FIFO"),
    SpecialFile(
        "directory", "10-x.conflist", directory, r"directory|not a regular file"
    ),
    SpecialFile("dangling-symlink", BAD, dangling_symlink, r"not found|no such file"),
]


@pytest.mark.parametrize("kind", SPECIAL_FILES, ids=[kind.id for kind in SPECIAL_FILES])
def test_special_file_skipped(node: Node, start_supervisor, kind: SpecialFile) -> None:
    steady = start_steady(node, start_supervisor)
    supervisor = steady.supervisor
    bad = node.conf / kind.name

    kind.create(node, bad)
    expect_reported_once(node, supervisor, str(bad), kind.reason)
    expect_healthy(supervisor)
    expect_files_kept(node, steady)
    assert delegate(node).get("name") == PRIMARY_NAME

    # Reading the entry must not block: a change to another input is still rendered.
    atomic_write(node.conf / PRIMARY, FIXED_PRIMARY)
    assert wait_until(lambda: delegate_mtu(node) == FIXED_MTU), supervisor.log()

    replace_with_fixed_candidate(bad)
    assert wait_until(lambda: delegate(node).get("name") == "fixed-net"), (
        supervisor.log()
    )
    expect_healthy(supervisor)
    assert supervisor.stop() == 0


#: Text after the newline in a hostile file name, which must not start a log line.
FORGED = "FORGED 2026-01-01 00:00:00,000 ERROR forged: line"


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(f"10-x\n{FORGED}.conf", id="name-with-newline"),
        pytest.param(os.fsdecode(b"10-x\xff\xfe.conf"), id="name-not-utf8"),
    ],
)
def test_hostile_file_name(node: Node, start_supervisor, name: str) -> None:
    steady = start_steady(node, start_supervisor)
    supervisor = steady.supervisor
    bad = node.conf / name
    # The part of the name before the hostile bytes, as any log format shows it.
    needle = str(node.conf / "10-x")

    atomic_write(bad, b"{")
    assert wait_until(
        lambda: problem_lines(supervisor, needle), timeout=REPORT_TIMEOUT
    ), supervisor.log()
    forged = [
        line for line in supervisor.log().splitlines() if line.startswith("FORGED")
    ]
    assert forged == [], "a file name started a log line of its own"
    expect_reported_once(node, supervisor, needle, r"invalid JSON")
    expect_healthy(supervisor)
    expect_files_kept(node, steady)

    replace_with_fixed_candidate(bad)
    assert wait_until(lambda: delegate(node).get("name") == "fixed-net"), (
        supervisor.log()
    )
    expect_healthy(supervisor)
    assert supervisor.stop() == 0


def test_vanishing_candidate(node: Node, start_supervisor) -> None:
    """A candidate created and deleted again and again for a second.

    Renders that list the file and then find it gone must skip it. The churned
    file has the primary config's content, so whichever of the two a render
    uses, the installed bytes stay the same. Whether a render falls between a
    create and a delete is up to the scheduler, so the reason is checked only
    on the warnings that were logged.
    """
    steady = start_steady(node, start_supervisor)
    supervisor = steady.supervisor
    bad = node.conf / BAD
    temporary = node.root / ".vanishing-tmp"
    stop = threading.Event()
    cycles = 0

    def churn() -> None:
        nonlocal cycles
        while not stop.is_set():
            temporary.write_text(CALICO)
            os.rename(temporary, bad)
            os.unlink(bad)
            cycles += 1

    thread = threading.Thread(target=churn, name="vanishing-candidate", daemon=True)
    thread.start()
    stop.wait(1.0)
    stop.set()
    thread.join()
    assert cycles > 0
    assert not bad.exists()

    render_again(node, supervisor)
    lines = problem_lines(supervisor, str(bad))
    vanished = re.compile(r"not found|no such file", re.IGNORECASE)
    assert all(vanished.search(line) for line in lines), lines
    render_again(node, supervisor)
    assert problem_lines(supervisor, str(bad)) == lines
    expect_healthy(supervisor)
    expect_files_kept(node, steady)

    atomic_write(bad, json.dumps(FIXED_CANDIDATE))
    assert wait_until(lambda: delegate(node).get("name") == "fixed-net"), (
        supervisor.log()
    )
    expect_healthy(supervisor)
    assert supervisor.stop() == 0


# -- service-account credentials ------------------------------------------------------


def replace_token(node: Node, token: bytes) -> None:
    atomic_write(node.sa / "token", token)


def fix_token(node: Node) -> Callable[[], bool]:
    replace_token(node, FIXED_TOKEN.encode())
    return lambda: kubeconfig_token(node) == FIXED_TOKEN


def fix_ca(node: Node) -> Callable[[], bool]:
    bundle = CA + CA
    atomic_write(node.sa / "ca.crt", bundle)
    return lambda: kubeconfig_ca(node) == bundle


def fix_account_directory(node: Node) -> Callable[[], bool]:
    """Recreate the service-account directory by renaming a complete one into place."""
    staging = node.root / "sa-staging"
    staging.mkdir()
    (staging / "token").write_text(FIXED_TOKEN)
    (staging / "ca.crt").write_bytes(CA)
    os.rename(staging, node.sa)
    return lambda: kubeconfig_token(node) == FIXED_TOKEN


def dangling_token_link(node: Node) -> None:
    """Make the token a dangling symlink into ``..data``, as in a projected volume."""
    link = node.root / ".token-link"
    os.symlink("..data/token", link)
    os.rename(link, node.sa / "token")


def remove_ca(node: Node) -> None:
    (node.sa / "ca.crt").unlink()


@dataclass(frozen=True)
class BadCredential:
    """A broken service-account input."""

    id: str
    #: Entry named in the warning, relative to the service-account directory.
    entry: str
    breaks: Callable[[Node], None]
    reason: str
    fix: Callable[[Node], Callable[[], bool]]
    #: Text from the bad input that must never appear in the log.
    secret: str = field(default="")


BAD_CREDENTIALS = [
    BadCredential(
        "token-empty",
        "token",
        lambda node: replace_token(node, b""),
        r"empty",
        fix_token,
    ),
    BadCredential(
        "token-newline-inside",
        "token",
        lambda node: replace_token(node, b"secret-part-one\nsecret-part-two"),
        r"whitespace|control|newline",
        fix_token,
        secret="secret-part-one",
    ),
    BadCredential(
        "token-non-ascii",
        "token",
        lambda node: replace_token(node, "s\u00e9cret-t\u00f6ken-0005".encode()),
        r"non-ASCII",
        fix_token,
        secret="t\u00f6ken-0005",
    ),
    BadCredential(
        "token-too-large",
        "token",
        lambda node: replace_token(node, b"t" * (100 * 1024)),
        r"too large",
        fix_token,
        secret="t" * 1024,
    ),
    BadCredential(
        "token-dangling-link",
        "token",
        dangling_token_link,
        r"not found|no such file",
        fix_token,
    ),
    BadCredential("ca-missing", "ca.crt", remove_ca, r"not found|no such file", fix_ca),
    BadCredential(
        "ca-garbage",
        "ca.crt",
        lambda node: atomic_write(node.sa / "ca.crt", bytes(range(256)) * 4),
        r"PEM|certificate",
        fix_ca,
    ),
    BadCredential(
        "account-dir-removed",
        "",
        lambda node: shutil.rmtree(node.sa),
        r"not found|no such",
        fix_account_directory,
    ),
]


@pytest.mark.parametrize(
    "kind", BAD_CREDENTIALS, ids=[kind.id for kind in BAD_CREDENTIALS]
)
def test_bad_credential(node: Node, start_supervisor, kind: BadCredential) -> None:
    steady = start_steady(node, start_supervisor)
    supervisor = steady.supervisor
    needle = str(node.sa / kind.entry) if kind.entry else str(node.sa)

    kind.breaks(node)
    expect_reported_once(node, supervisor, needle, kind.reason)
    expect_healthy(supervisor)
    expect_files_kept(node, steady)
    if kind.secret:
        assert kind.secret not in supervisor.log()

    fixed = kind.fix(node)
    assert wait_until(fixed), supervisor.log()
    assert read_or_none(node.multus_conf) == steady.multus_conf
    expect_healthy(supervisor)
    assert supervisor.stop() == 0


#: Tokens that are unusual but valid: the kubeconfig must carry them unchanged.
ACCEPTED_TOKENS = [
    pytest.param('tok"en"with"quotes', 'tok"en"with"quotes', id="token-quotes"),
    pytest.param("tok\\en\\", "tok\\en\\", id="token-backslashes"),
    pytest.param(
        "&anchor*alias!tag|>%@`#:{}[],'?-",
        "&anchor*alias!tag|>%@`#:{}[],'?-",
        id="token-yaml-indicators",
    ),
    pytest.param("new-token-0003\n", "new-token-0003", id="token-trailing-newline"),
    pytest.param("new-token-0004\r\n", "new-token-0004", id="token-trailing-crlf"),
]


@pytest.mark.parametrize(("written", "expected"), ACCEPTED_TOKENS)
def test_token_accepted(
    node: Node, start_supervisor, written: str, expected: str
) -> None:
    steady = start_steady(node, start_supervisor)
    supervisor = steady.supervisor
    token = node.sa / "token"

    replace_token(node, written.encode())
    assert wait_until(lambda: kubeconfig_token(node) == expected), supervisor.log()
    render_again(node, supervisor)
    assert problem_lines(supervisor, str(token)) == []
    assert expected not in supervisor.log()
    assert read_or_none(node.multus_conf) == steady.multus_conf
    expect_healthy(supervisor)
    assert supervisor.stop() == 0
