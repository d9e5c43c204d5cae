"""SIGKILL the supervisor at random moments while its primary CNI config keeps changing.

Run ``python -m tests.stress.kill_loop --iterations 300`` as root from the
repository. The command prints a summary table and exits with status 1 when
any check failed, listing each failure.

A writer thread keeps replacing the primary CNI config with one of four
versions, and on every third change also the service-account token with one
of two. Each replacement writes a temporary file outside the watched
directories and renames it into place. Versions alternate ``cniVersion``
0.3.1 and 1.0.0, so the supervisor also alternates between ``00-multus.conf``
and ``00-multus.conflist`` and removes the stale sibling. Each iteration has
two phases:

1. Start the supervisor with the writer running, wait a random delay, and send
   SIGKILL, so kills land during start-up, during renders and during
   installs. With the process gone, ``00-multus.conf``, ``00-multus.conflist``
   and ``multus.d/multus.kubeconfig``, each when present, must equal one of
   the valid renders byte for byte and have mode 0600. An empty file, a prefix
   of a render, a render followed by more bytes and any other content are
   violations, and so is a config or kubeconfig that was present after an
   earlier kill and is now missing. The supervisor's temporary files may
   remain. A supervisor that exits by itself, or warns about another writer
   of its files, is a violation too, because no other process writes them.
2. Start the supervisor again and pause the writer. Wait until the supervisor
   has logged the steady state and no temporary file remains. The files must
   then equal the render of the inputs the writer left, and the sibling with
   the other extension must be gone. Then kill the supervisor and resume the
   writer.

The valid renders are computed before the loop by the product itself. For
each version, the supervisor is started on the same node with the same flags
and inputs, waited for until it logs the steady state, and stopped with
SIGTERM. The installed bytes are the render of that version. The supervisor
reaches the steady state only after comparing disk with its render, so a file
it left partial cannot become a valid render. The set is fixed before the
first kill, so it cannot absorb a torn file either, which a set recorded from
the files during the loop would do. This relies on the render being a
function of the inputs and flags alone. Phase 2 checks that on every
iteration, because a running supervisor must converge to exactly those bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import stat
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.support import (
    DATA,
    STEADY_MARK,
    WAIT_SECONDS,
    Node,
    SupervisorProcess,
    atomic_write,
    directory_tree,
    first_log_line,
    kubeconfig_value,
    read_or_none,
    temporary_files,
    wait_until,
)

PRIMARY_NAME = "10-calico.conflist"
CONF_NAME = "00-multus.conf"
CONFLIST_NAME = "00-multus.conflist"
KUBECONFIG_NAME = "multus.d/multus.kubeconfig"
#: Primary config versions as (cniVersion, MTU of the calico plugin). From
#: cniVersion 1.0.0 on, the supervisor writes 00-multus.conflist instead of
#: 00-multus.conf.
PRIMARY_VERSIONS = (("0.3.1", 1400), ("1.0.0", 1410), ("0.3.1", 1420), ("1.0.0", 1430))
TOKENS = ("token-version-a", "token-version-b")
#: The writer replaces the token on every TOKEN_EVERY-th change of the primary config.
TOKEN_EVERY = 3
#: Name of a temporary file of the supervisor's install protocol.
SUPERVISOR_TEMPORARY = re.compile(r"^\.[^/]+\.[0-9a-f]{8}\.multus-config-tmp$")
INSTALLED_MODE = 0o600
#: Start of the supervisor's warning that it delays repairs of a file another process keeps changing.
RIVAL_WRITER_WARNING = "Another writer keeps changing"
#: Labels of the phases in which a violation is found.
PHASE_RUNNING = "while running"
PHASE_KILL = "after a kill"
PHASE_RESTART = "after a restart"
#: Log lines of a failing phase quoted in its violation.
LOG_TAIL_LINES = 6

DEFAULT_ITERATIONS = 300
#: Upper bound of the random delay between a start and its SIGKILL, in seconds.
#: The supervisor reached its first steady state about 0.1 s after its start on
#: a 2-core virtual machine, so there roughly a quarter of the kills land in
#: start-up. The summary counts them.
DEFAULT_MAX_DELAY = 0.4
#: Upper bound of the random pause between two changes by the writer, in seconds.
DEFAULT_MAX_INTERVAL = 0.01


def primary_documents() -> list[bytes]:
    """Return the primary config versions the writer alternates between."""
    base = json.loads((DATA / "calico.conflist").read_bytes())
    documents = []
    for cni_version, mtu in PRIMARY_VERSIONS:
        base["cniVersion"] = cni_version
        base["plugins"][0]["mtu"] = mtu
        documents.append(json.dumps(base, indent=2).encode() + b"\n")
    return documents


def config_problem(content: bytes) -> str | None:
    """Return why *content* is not a JSON object, or ``None`` when it is one."""
    try:
        document = json.loads(content)
    except ValueError as error:
        return f"invalid JSON: {error}"
    if not isinstance(document, dict):
        return "not a JSON object"
    return None


def kubeconfig_problem(content: bytes) -> str | None:
    """Return why *content* is not a complete kubeconfig as the supervisor writes it, or ``None``.

    The project has no YAML parser, so this checks the lines every rendered
    kubeconfig has. Equality with a render is the real check.
    """
    try:
        text = content.decode()
    except UnicodeDecodeError as error:
        return f"invalid UTF-8: {error}"
    if not text.endswith("\n"):
        return "no final newline"
    for key in ("apiVersion", "kind", "server", "token", "current-context"):
        if kubeconfig_value(text, key) is None:
            return f"no {key} line"
    return None


def classify(content: bytes, renders: Sequence[bytes], parse_problem: Callable[[bytes], str | None]) -> str | None:
    """Return why *content* is not one of *renders*, or ``None`` when it is."""
    if content in renders:
        return None
    if not content:
        return "empty"
    for render in renders:
        if render.startswith(content):
            return f"partial: the first {len(content)} of {len(render)} bytes of a render"
        if content.startswith(render):
            return f"trailing bytes: a render followed by {len(content) - len(render)} more bytes"
    problem = parse_problem(content)
    if problem is not None:
        return f"does not parse ({problem})"
    return "parses but equals no render"


@dataclass(frozen=True)
class Renders:
    """The valid renders, computed before the loop."""

    #: Per primary config version: the output file name and its bytes.
    configs: tuple[tuple[str, bytes], ...]
    #: Per token: the kubeconfig bytes.
    kubeconfigs: tuple[bytes, ...]

    def config_renders(self, name: str) -> list[bytes]:
        return [content for config_name, content in self.configs if config_name == name]

    def config_version(self, name: str, content: bytes) -> int | None:
        for index, (config_name, render) in enumerate(self.configs):
            if config_name == name and render == content:
                return index
        return None


class RenderError(Exception):
    """Computing the valid renders failed, so the loop cannot start."""


def write_inputs(node: Node, primary: bytes, token: str) -> None:
    atomic_write(node.conf / PRIMARY_NAME, primary)
    atomic_write(node.sa / "token", token)


def remove_outputs(node: Node) -> None:
    for path in (node.conf / CONF_NAME, node.conf / CONFLIST_NAME, node.kubeconfig):
        path.unlink(missing_ok=True)


def compute_renders(node: Node, flags: list[str], primaries: list[bytes], log_path: Path) -> Renders:
    """Render every version with the supervisor itself: start, wait for steady, stop.

    :raises RenderError: when a run fails, leaves both or neither config name,
        gives a kubeconfig different from an earlier run with the same token,
        or when two versions give the same bytes.
    """
    configs: list[tuple[str, bytes]] = []
    kubeconfigs: dict[int, bytes] = {}
    for index, primary in enumerate(primaries):
        token_index = index % len(TOKENS)
        write_inputs(node, primary, TOKENS[token_index])
        supervisor = SupervisorProcess.start(flags, log_path)
        steady = supervisor.wait_log(STEADY_MARK)
        status = supervisor.stop()
        if not steady or status != 0:
            msg = f"rendering primary version {index} failed (exit status {status}):\n{supervisor.log()}"
            raise RenderError(msg)
        present = [name for name in (CONF_NAME, CONFLIST_NAME) if (node.conf / name).exists()]
        if len(present) != 1:
            raise RenderError(f"rendering primary version {index} left {present or 'no config'}")
        content = (node.conf / present[0]).read_bytes()
        kubeconfig = node.kubeconfig.read_bytes()
        for problem in (config_problem(content), kubeconfig_problem(kubeconfig)):
            if problem is not None:
                raise RenderError(f"the render of primary version {index} is invalid: {problem}")
        if kubeconfigs.setdefault(token_index, kubeconfig) != kubeconfig:
            raise RenderError(f"two runs with token {token_index} rendered different kubeconfigs")
        configs.append((present[0], content))
    if len({content for _, content in configs}) != len(configs):
        raise RenderError("two primary versions gave the same config, so the check could not tell them apart")
    if len(set(kubeconfigs.values())) != len(TOKENS):
        raise RenderError("the tokens gave the same kubeconfig, so the check could not tell them apart")
    return Renders(tuple(configs), tuple(kubeconfigs[index] for index in range(len(TOKENS))))


class InputWriter:
    """A thread that keeps replacing the primary config, and sometimes the token, atomically."""

    def __init__(self, node: Node, primaries: list[bytes], seed: int, max_interval: float) -> None:
        self.node = node
        self.primaries = primaries
        self.max_interval = max_interval
        self.primary_index = 0
        self.token_index = 0
        self.changes = 0
        #: The exception that ended the thread, if any.
        self.error: BaseException | None = None
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="input-writer", daemon=True)

    def start(self) -> None:
        write_inputs(self.node, self.primaries[self.primary_index], TOKENS[self.token_index])
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def pause(self) -> tuple[int, int]:
        """Wait for the change in progress, hold the writer, and return (primary, token) indices."""
        self._lock.acquire()
        return self.primary_index, self.token_index

    def resume(self) -> None:
        self._lock.release()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                with self._lock:
                    self._change()
                self._stop.wait(self._random.uniform(0, self.max_interval))
        except BaseException as error:  # noqa: BLE001 - reported by the loop
            self.error = error

    def _change(self) -> None:
        others = [index for index in range(len(self.primaries)) if index != self.primary_index]
        self.primary_index = self._random.choice(others)
        atomic_write(self.node.conf / PRIMARY_NAME, self.primaries[self.primary_index])
        self.changes += 1
        if self.changes % TOKEN_EVERY == 0:
            self.token_index = (self.token_index + 1) % len(TOKENS)
            atomic_write(self.node.sa / "token", TOKENS[self.token_index])


@dataclass
class Summary:
    """Counts of one run and every violation found."""

    iterations: int
    seed: int
    max_delay: float
    max_interval: float
    kills: int = 0
    kills_before_steady: int = 0
    kills_leaving_temporary: int = 0
    temporaries_after_kills: int = 0
    kills_leaving_both_names: int = 0
    kills_leaving_no_config: int = 0
    kills_leaving_no_kubeconfig: int = 0
    #: Primary version index -> how often its config was found after a kill.
    config_versions: Counter[int] = field(default_factory=Counter)
    installs_logged: int = 0
    temporaries_removed_at_start: int = 0
    convergences: int = 0
    max_convergence_seconds: float = 0.0
    writer_changes: int = 0
    violations: list[str] = field(default_factory=list)
    #: Phase label -> number of violations found in that phase.
    violation_phases: Counter[str] = field(default_factory=Counter)


def log_tail(supervisor: SupervisorProcess) -> str:
    lines = supervisor.log().splitlines()[-LOG_TAIL_LINES:]
    return "\n".join("    | " + line for line in lines)


class KillLoop:
    """Runs the iterations on one node and fills a :class:`Summary`."""

    def __init__(self, work_dir: Path, summary: Summary) -> None:
        self.node = Node.create(work_dir / "node")
        self.flags = self.node.flags()
        self.log_path = work_dir / "supervisor.log"
        self.summary = summary
        self.primaries = primary_documents()
        self.renders: Renders | None = None
        self.supervisor: SupervisorProcess | None = None
        #: Whether a config, and a kubeconfig, existed after an earlier kill or convergence.
        self.config_seen = False
        self.kubeconfig_seen = False

    def prepare(self) -> None:
        """Compute the valid renders and remove the files they left, so the loop starts from none."""
        self.renders = compute_renders(self.node, self.flags, self.primaries, self.log_path)
        remove_outputs(self.node)

    def run(self, progress: Callable[[str], None] | None = None) -> None:
        if self.renders is None:
            self.prepare()
        random_delays = random.Random(self.summary.seed)
        writer = InputWriter(self.node, self.primaries, random_delays.randrange(2**32), self.summary.max_interval)
        writer.start()
        try:
            for iteration in range(self.summary.iterations):
                self.kill_while_writing(iteration, random_delays.uniform(0, self.summary.max_delay))
                self.restart_and_converge(iteration, writer)
                if writer.error is not None:
                    self.summary.violations.append(f"the input writer failed: {writer.error!r}")
                    self.summary.violation_phases["input writer"] += 1
                    break
                if progress is not None and (iteration + 1) % 25 == 0:
                    progress(f"{iteration + 1} of {self.summary.iterations} iterations, {len(self.summary.violations)} violations")
        finally:
            if self.supervisor is not None and self.supervisor.running():
                self.kill()
            writer.stop()
            self.summary.writer_changes = writer.changes

    def start(self) -> SupervisorProcess:
        self.supervisor = SupervisorProcess.start(self.flags, self.log_path)
        return self.supervisor

    def kill(self) -> None:
        assert self.supervisor is not None
        self.supervisor.send(signal.SIGKILL)
        self.supervisor.process.wait()

    def violation(self, iteration: int, phase: str, text: str) -> None:
        """Record a violation with the directory listing and the log tail, and keep the whole log beside the node."""
        assert self.supervisor is not None
        self.summary.violation_phases[phase] += 1
        kept_log = self.log_path.with_name(f"iteration-{iteration}.log")
        kept_log.write_text(self.supervisor.log())
        listing = ", ".join(directory_tree(self.node.conf))
        self.summary.violations.append(
            f"iteration {iteration}, {phase}: {text}\n    files: {listing}\n    log: {kept_log}\n{log_tail(self.supervisor)}"
        )

    # -- phase 1 ------------------------------------------------------------------------

    def kill_while_writing(self, iteration: int, delay: float) -> None:
        supervisor = self.start()
        time.sleep(delay)
        if not supervisor.running():
            status = supervisor.process.returncode
            self.violation(iteration, PHASE_RUNNING, f"the supervisor exited by itself with status {status}")
            return
        self.kill()
        self.summary.kills += 1
        log = supervisor.log()
        self.summary.installs_logged += log.count("Installed ")
        if STEADY_MARK not in log:
            self.summary.kills_before_steady += 1
        if RIVAL_WRITER_WARNING in log:
            # Only the supervisor writes its files in this loop, so the warning is false.
            warning = first_log_line(supervisor, RIVAL_WRITER_WARNING)
            self.violation(iteration, PHASE_RUNNING, f"no other process writes the supervisor's files, but it logged: {warning}")
        for problem in self.check_after_kill():
            self.violation(iteration, PHASE_KILL, f"{problem} (killed {delay:.3f} s after the start)")

    def check_after_kill(self) -> list[str]:
        """Check the files left by a killed supervisor and count what it left."""
        assert self.renders is not None
        problems = []
        conf = self.node.conf
        configs = {name: read_or_none(conf / name) for name in (CONF_NAME, CONFLIST_NAME)}
        present = {name: content for name, content in configs.items() if content is not None}
        for name, content in present.items():
            problem = classify(content, self.renders.config_renders(name), config_problem)
            if problem is not None:
                problems.append(f"{name}: {problem}: {content[:120]!r}")
            else:
                version = self.renders.config_version(name, content)
                assert version is not None
                self.summary.config_versions[version] += 1
        if len(present) == 2:
            self.summary.kills_leaving_both_names += 1
        if not present:
            self.summary.kills_leaving_no_config += 1
            if self.config_seen:
                problems.append(f"neither {CONF_NAME} nor {CONFLIST_NAME} exists, although one existed after an earlier kill or restart")
        self.config_seen = self.config_seen or bool(present)

        kubeconfig = read_or_none(self.node.kubeconfig)
        if kubeconfig is None:
            self.summary.kills_leaving_no_kubeconfig += 1
            if self.kubeconfig_seen:
                problems.append(f"{KUBECONFIG_NAME} is missing, although it existed after an earlier kill or restart")
        else:
            problem = classify(kubeconfig, self.renders.kubeconfigs, kubeconfig_problem)
            if problem is not None:
                problems.append(f"{KUBECONFIG_NAME}: {problem}")
            self.kubeconfig_seen = True

        problems.extend(self.mode_problems())
        temporaries = temporary_files(conf)
        if temporaries:
            self.summary.kills_leaving_temporary += 1
            self.summary.temporaries_after_kills += len(temporaries)
        problems.extend(f"unexpected file {name}" for name in self.unexpected_entries())
        return problems

    def mode_problems(self) -> list[str]:
        problems = []
        for path in (self.node.conf / CONF_NAME, self.node.conf / CONFLIST_NAME, self.node.kubeconfig):
            try:
                mode = stat.S_IMODE(os.lstat(path).st_mode)
            except FileNotFoundError:
                continue
            if mode != INSTALLED_MODE:
                problems.append(f"{path.name} has mode {mode:04o}, expected {INSTALLED_MODE:04o}")
        return problems

    def unexpected_entries(self) -> list[str]:
        expected = {PRIMARY_NAME, CONF_NAME, CONFLIST_NAME, "multus.d", KUBECONFIG_NAME}
        return [
            entry
            for entry in directory_tree(self.node.conf)
            if entry not in expected and not SUPERVISOR_TEMPORARY.match(Path(entry).name)
        ]

    # -- phase 2 ------------------------------------------------------------------------

    def restart_and_converge(self, iteration: int, writer: InputWriter) -> None:
        supervisor = self.start()
        primary_index, token_index = writer.pause()
        try:
            started = time.monotonic()
            converged = wait_until(lambda: not self.convergence_problems(primary_index, token_index))
            elapsed = time.monotonic() - started
            problems = self.convergence_problems(primary_index, token_index)
            if converged and not problems:
                self.summary.convergences += 1
                self.summary.max_convergence_seconds = max(self.summary.max_convergence_seconds, elapsed)
                self.config_seen = self.kubeconfig_seen = True
            for problem in problems:
                self.violation(iteration, PHASE_RESTART, f"{problem} (waited {WAIT_SECONDS:g} s)")
            self.summary.temporaries_removed_at_start += supervisor.log().count("left by an earlier run")
            self.kill()
        finally:
            writer.resume()

    def convergence_problems(self, primary_index: int, token_index: int) -> list[str]:
        """Return how disk differs from the render of the given inputs, empty once converged."""
        assert self.renders is not None and self.supervisor is not None
        problems = []
        name, expected = self.renders.configs[primary_index]
        other = CONFLIST_NAME if name == CONF_NAME else CONF_NAME
        if not self.supervisor.running():
            problems.append(f"the supervisor exited with status {self.supervisor.process.returncode}")
        if STEADY_MARK not in self.supervisor.log():
            problems.append("the supervisor has not logged the steady state")
        if read_or_none(self.node.conf / name) != expected:
            problems.append(f"{name} is not the render of primary version {primary_index}")
        if os.path.lexists(self.node.conf / other):
            problems.append(f"the stale sibling {other} remains")
        if read_or_none(self.node.kubeconfig) != self.renders.kubeconfigs[token_index]:
            problems.append(f"{KUBECONFIG_NAME} is not the render of token {token_index}")
        temporaries = temporary_files(self.node.conf)
        if temporaries:
            problems.append(f"temporary files remain: {', '.join(temporaries)}")
        problems.extend(self.mode_problems())
        return problems


def run_kill_loop(
    iterations: int,
    work_dir: Path,
    seed: int,
    max_delay: float = DEFAULT_MAX_DELAY,
    max_interval: float = DEFAULT_MAX_INTERVAL,
    progress: Callable[[str], None] | None = None,
) -> Summary:
    """Run the kill loop in *work_dir* and return its summary.

    :raises RenderError: when the valid renders cannot be computed.
    """
    summary = Summary(iterations, seed, max_delay, max_interval)
    KillLoop(work_dir, summary).run(progress)
    return summary


def format_summary(summary: Summary) -> str:
    """Return the summary as a two-column table followed by every violation."""
    phases = ", ".join(f"{phase} {count}" for phase, count in sorted(summary.violation_phases.items()))
    phases = f"({phases})" if phases else ""
    versions = ", ".join(
        f"v{index} {summary.config_versions[index]}" for index in range(len(PRIMARY_VERSIONS))
    )
    rows = [
        ("iterations", summary.iterations),
        ("seed", summary.seed),
        ("kill delay after start (s)", f"0 to {summary.max_delay:g}, uniform"),
        ("writer pause between changes (s)", f"0 to {summary.max_interval:g}, uniform"),
        ("primary config changes by the writer", summary.writer_changes),
        ("SIGKILLs with the writer running", summary.kills),
        ("  before the first steady state", summary.kills_before_steady),
        ("  leaving a temporary file", summary.kills_leaving_temporary),
        ("  leaving both .conf and .conflist", summary.kills_leaving_both_names),
        ("  leaving no config", summary.kills_leaving_no_config),
        ("  leaving no kubeconfig", summary.kills_leaving_no_kubeconfig),
        ("config version found after kills", versions),
        ("installs logged by killed runs", summary.installs_logged),
        ("temporary files found after kills", summary.temporaries_after_kills),
        ("temporary files removed at restart", summary.temporaries_removed_at_start),
        ("restarts converged", f"{summary.convergences} of {summary.iterations}"),
        ("longest convergence (s)", f"{summary.max_convergence_seconds:.3f}"),
        ("violations", f"{len(summary.violations)} {phases}".rstrip()),
    ]
    width = max(len(label) for label, _ in rows)
    lines = [f"{label:<{width}}  {value}" for label, value in rows]
    lines.extend(f"\nVIOLATION {violation}" for violation in summary.violations)
    return "\n".join(lines)


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.stress.kill_loop",
        description="SIGKILL the supervisor at random moments while its primary CNI config keeps changing, "
        "and check the files after every kill and every restart.",
    )
    parser.add_argument("--iterations", type=int, default=DEFAULT_ITERATIONS, help="kill-and-restart cycles (default %(default)s)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the random delays (default: random, printed)")
    parser.add_argument("--max-delay", type=float, default=DEFAULT_MAX_DELAY, help="longest delay in seconds between a start and its SIGKILL (default %(default)s)")
    parser.add_argument("--max-interval", type=float, default=DEFAULT_MAX_INTERVAL, help="longest pause in seconds between two changes by the writer (default %(default)s)")
    parser.add_argument("--work-dir", type=Path, default=None, help="directory for the node and the log, kept afterwards (default: a temporary directory, removed)")
    arguments = parser.parse_args(argv)
    if arguments.iterations < 1:
        parser.error(f"--iterations must be at least 1, got {arguments.iterations}")
    if arguments.max_delay < 0 or arguments.max_interval < 0:
        parser.error("--max-delay and --max-interval must not be negative")
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    seed = arguments.seed if arguments.seed is not None else random.randrange(2**32)

    def progress(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def run(work_dir: Path) -> Summary:
        return run_kill_loop(arguments.iterations, work_dir, seed, arguments.max_delay, arguments.max_interval, progress)

    try:
        if arguments.work_dir is not None:
            arguments.work_dir.mkdir(parents=True, exist_ok=True)
            summary = run(arguments.work_dir)
        else:
            with tempfile.TemporaryDirectory(prefix="kill-loop-") as work_dir:
                summary = run(Path(work_dir))
    except RenderError as error:
        print(f"Cannot compute the valid renders: {error}", file=sys.stderr)
        return 2
    print(format_summary(summary))
    return 1 if summary.violations else 0


if __name__ == "__main__":
    sys.exit(main())
