"""Benchmark multus-config, and optionally another implementation, on temporary nodes.

Usage (from the repository root, as root or as a user who may create files in the temporary directory)::

    .venv/bin/python -m tests.benchmarks.run [--quick] [--repeat N] [--compare-with PATH]

Prints a Markdown table with the median of every figure (and the 99th
percentile of the reaction times), whether each target is met and, with
``--compare-with``, the same figures for the other executable and the ratio
multus-config / other. The figures are described in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.benchmarks.harness import Implementation, ScenarioError, default_executable
from tests.benchmarks.scenarios import FULL, QUICK, SCENARIOS, NotApplicable, Profile, probe_ready_notification


@dataclass(frozen=True)
class Summary:
    """Statistics of the values of one figure for one implementation."""

    values: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def p99(self) -> float:
        """Return the 99th percentile by the nearest-rank method."""
        ordered = sorted(self.values)
        return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


@dataclass(frozen=True)
class Figure:
    """One row of the table."""

    key: str
    #: Row title, in which ``{idle}`` is replaced by the idle window in seconds.
    title: str
    scenario: str
    unit: str
    #: Target as printed, or empty for a figure shown for information.
    target: str = ""
    check: Callable[[Summary], bool] | None = None
    #: Whether the 99th percentile is printed next to the median.
    show_p99: bool = False


FIGURES = [
    Figure("idle_events", "filesystem events in conf + service-account dirs, {idle} s idle", "idle", "count", "0", lambda s: s.median == 0),
    Figure("idle_cpu", "CPU time over {idle} s idle (utime+stime)", "idle", "s", "<= 0.005 s", lambda s: s.median <= 0.005),
    Figure("idle_cpu_sched", "CPU time over {idle} s idle (schedstat, ns resolution)", "idle", "s-precise"),
    Figure("master_change", "master change to new 00-multus.conf in place", "master", "ms", "median <= 20 ms, p99 <= 100 ms", lambda s: s.median <= 20 and s.p99 <= 100, True),
    Figure("token_swap", "token swap (..data symlink) to new kubeconfig", "token", "ms", "median <= 20 ms", lambda s: s.median <= 20, True),
    Figure("start_ready", "process start to READY=1", "start", "ms", "median <= 250 ms", lambda s: s.median <= 250, True),
    Figure("start_file", "process start to 00-multus.conf in place", "start", "ms", show_p99=True),
    Figure("rss", "resident memory in steady state (VmRSS)", "idle", "MiB", "<= 20 MiB", lambda s: s.median <= 20),
    Figure("rss_peak", "peak resident memory since start (VmHWM)", "idle", "MiB"),
    Figure("burst_installs", "1,000 rewrites of the master within 1 s: installs", "burst", "count", "<= 10", lambda s: s.median <= 10),
    Figure("burst_correct", "1,000 rewrites: final content correct", "burst", "runs", "every run", lambda s: all(value == 1 for value in s.values)),
    Figure("burst_settle", "1,000 rewrites: last rewrite to final content", "burst", "ms"),
    Figure("churn_installs", "10,000 unrelated files created and deleted: installs", "churn", "count", "0", lambda s: s.median == 0),
    Figure("churn_cpu", "10,000 unrelated files created and deleted: CPU time", "churn", "s", "< 1 s", lambda s: s.median < 1),
    Figure("large_dir_change", "conf dir holding 10,000 files: master change", "large-dir", "ms", "median <= 50 ms", lambda s: s.median <= 50, True),
]


@dataclass
class Results:
    """Everything measured for one implementation."""

    implementation: Implementation
    values: dict[str, list[float]] = field(default_factory=dict)
    #: Reason a figure has no value, by figure key: "n/a: ..." or "error: ...".
    missing: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def summary(self, key: str) -> Summary | None:
        values = self.values.get(key)
        return Summary(tuple(values)) if values else None


# -- formatting -----------------------------------------------------------------------------


def format_value(figure: Figure, value: float) -> str:
    if figure.unit == "ms":
        return f"{value:.1f} ms"
    if figure.unit == "s":
        return f"{value:.3f} s"
    if figure.unit == "s-precise":
        return f"{value:.6f} s"
    if figure.unit == "MiB":
        return f"{value:.1f} MiB"
    return f"{value:g}"


def format_cell(figure: Figure, results: Results) -> str:
    summary = results.summary(figure.key)
    if summary is None:
        reason = results.missing.get(figure.key, "error: no value")
        return "n/a" if reason.startswith("n/a") else "error"
    if figure.unit == "runs":
        return f"{int(sum(summary.values))}/{len(summary.values)} runs"
    text = format_value(figure, summary.median)
    if figure.show_p99:
        text += f" (p99 {format_value(figure, summary.p99)}, n={len(summary.values)})"
    return text


def format_met(figure: Figure, results: Results) -> str:
    summary = results.summary(figure.key)
    if figure.check is None:
        return ""
    if summary is None:
        return "n/a"
    return "yes" if figure.check(summary) else "**no**"


def format_ratio(figure: Figure, results: Results, other: Results) -> str:
    if figure.unit == "runs":
        return ""
    mine, theirs = results.summary(figure.key), other.summary(figure.key)
    if mine is None or theirs is None:
        return "n/a"
    if theirs.median == 0:
        return "equal" if mine.median == 0 else "n/a"
    return f"{mine.median / theirs.median:.2f}x"


def render_table(profile: Profile, all_results: list[Results]) -> str:
    main, others = all_results[0], all_results[1:]
    header = ["figure", "target", main.implementation.label, "met"]
    for other in others:
        header += [other.implementation.label, "met", f"ratio {main.implementation.label} / {other.implementation.label}"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for figure in FIGURES:
        if not any(figure.key in results.values or figure.key in results.missing for results in all_results):
            continue
        row = [figure.title.format(idle=f"{profile.idle_seconds:g}"), figure.target, format_cell(figure, main), format_met(figure, main)]
        for other in others:
            row += [format_cell(figure, other), format_met(figure, other), format_ratio(figure, main, other)]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def render_details(all_results: list[Results]) -> str:
    """Return the values of every run, the missing figures and the notes."""
    lines = []
    for results in all_results:
        command = [*results.implementation.command, *results.implementation.extra_flags]
        lines.append(f"{results.implementation.label} ({' '.join(command)}):")
        for figure in FIGURES:
            values = results.values.get(figure.key)
            if values and not figure.show_p99:
                formatted = ", ".join(format_value(figure, value) for value in values)
                lines.append(f"  {figure.key}: {formatted}")
            elif values:
                summary = Summary(tuple(values))
                lines.append(
                    f"  {figure.key}: n={len(values)} min {format_value(figure, min(values))} "
                    f"median {format_value(figure, summary.median)} p99 {format_value(figure, summary.p99)} "
                    f"max {format_value(figure, max(values))}"
                )
        for key, reason in sorted(results.missing.items()):
            lines.append(f"  {key}: {reason}")
        for note in results.notes:
            lines.append(f"  note: {note}")
    return "\n".join(lines)


# -- machine ------------------------------------------------------------------------------


def filesystem_type(path: Path) -> str:
    """Return the type of the filesystem mounted at the longest prefix of *path*."""
    best, kind = "", "unknown"
    resolved = str(path.resolve())
    for line in Path("/proc/mounts").read_text().splitlines():
        fields = line.split()
        mount_point = fields[1]
        if (resolved == mount_point or resolved.startswith(mount_point.rstrip("/") + "/")) and len(mount_point) >= len(best):
            best, kind = mount_point, fields[2]
    return kind


def describe_machine(base: Path) -> dict[str, str]:
    cpu_model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu_model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "temporary directory": f"{base.parent} ({filesystem_type(base)})",
        "load average at start": " ".join(f"{value:.2f}" for value in os.getloadavg()),
    }


# -- the run --------------------------------------------------------------------------------


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK.idle_seconds:g} s idle windows and fewer samples (about a minute per implementation)")
    parser.add_argument("--repeat", type=int, metavar="N", help=f"repetitions of every scenario, each on fresh nodes (default: {FULL.repeat}, {QUICK.repeat} with --quick)")
    parser.add_argument("--compare-with", action="append", default=[], metavar="PATH", help="another executable that takes thin_entrypoint's flags (repeatable)")
    parser.add_argument("--executable", metavar="PATH", help="the multus-config to measure (default: the one installed beside this interpreter)")
    parser.add_argument("--extra-flag", action="append", default=[], metavar="FLAG", help="flag appended to the command of the multus-config under test, such as --resync-interval=1 (repeatable)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"comma-separated scenarios to run, from {', '.join(SCENARIOS)} (default: all)")
    parser.add_argument("--idle-seconds", type=float, metavar="SECONDS", help="length of the idle window (default: 60, 5 with --quick)")
    parser.add_argument("--tmpdir", metavar="DIR", help="directory for the temporary nodes (default: the system temporary directory)")
    parser.add_argument("--json", metavar="PATH", help="also write every value, the notes and the machine to this JSON file")
    parser.add_argument("--seed", type=int, default=1, help="seed of the random pauses before each change (default: 1)")
    arguments = parser.parse_args(argv)
    unknown = [name for name in arguments.scenarios.split(",") if name not in SCENARIOS]
    if unknown:
        parser.error(f"--scenarios: unknown {', '.join(unknown)} (expected some of {', '.join(SCENARIOS)})")
    if arguments.repeat is not None and arguments.repeat < 1:
        parser.error(f"--repeat must be at least 1, not {arguments.repeat}")
    return arguments


def build_profile(arguments: argparse.Namespace) -> Profile:
    profile = QUICK if arguments.quick else FULL
    changes = {}
    if arguments.repeat is not None:
        changes["repeat"] = arguments.repeat
    if arguments.idle_seconds is not None:
        changes["idle_seconds"] = arguments.idle_seconds
    if not changes:
        return profile
    return Profile(**{**profile.__dict__, **changes})


def build_implementations(arguments: argparse.Namespace) -> list[Implementation]:
    main_command = [arguments.executable] if arguments.executable else default_executable()
    implementations = [Implementation.probe("multus-config", main_command)]
    implementations[0].extra_flags = list(arguments.extra_flag)
    for index, path in enumerate(arguments.compare_with, start=1):
        label = Path(path).name
        if label in (implementation.label for implementation in implementations):
            label = f"{label}-{index}"
        implementations.append(Implementation.probe(label, [path]))
    return implementations


def progress(began: float, text: str) -> None:
    print(f"[{time.monotonic() - began:7.1f} s] {text}", file=sys.stderr, flush=True)


def run_scenario(name: str, results: Results, profile: Profile, base: Path, repetition: int, seed: int) -> None:
    """Run one repetition of scenario *name* and store its values or the reason it has none."""
    implementation = results.implementation
    keys = [figure.key for figure in FIGURES if figure.scenario == name]
    rng = random.Random(f"{seed}-{name}-{repetition}")
    try:
        measured = SCENARIOS[name](implementation, profile, base, repetition, rng)
    except NotApplicable as reason:
        for key in keys:
            results.missing.setdefault(key, f"n/a: {reason}")
        return
    except (ScenarioError, OSError) as error:
        for key in keys:
            results.missing.setdefault(key, f"error: {error}")
        results.notes.append(f"{name} run {repetition + 1}: {error}")
        return
    for key, values in measured.values.items():
        results.values.setdefault(key, []).extend(values)
    results.notes.extend(f"run {repetition + 1}: {note}" for note in measured.notes)
    if name == "start" and not implementation.ready_notification:
        results.missing.setdefault("start_ready", "n/a: no READY=1 on NOTIFY_SOCKET")


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    profile = build_profile(arguments)
    implementations = build_implementations(arguments)
    names = arguments.scenarios.split(",")
    base = Path(tempfile.mkdtemp(prefix="multus-config-bench-", dir=arguments.tmpdir))
    machine = describe_machine(base)
    began = time.monotonic()
    all_results = [Results(implementation) for implementation in implementations]
    try:
        for implementation in implementations:
            progress(began, f"probing {implementation.label} ({' '.join(implementation.command)})")
            try:
                probe_ready_notification(implementation, base)
            except ScenarioError as error:
                all_results[implementations.index(implementation)].notes.append(f"warm-up start failed: {error}")
        for name in names:
            for repetition in range(profile.repeat):
                for results in all_results:
                    progress(began, f"{name} {results.implementation.label} run {repetition + 1}/{profile.repeat}")
                    run_scenario(name, results, profile, base, repetition, arguments.seed)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    elapsed = time.monotonic() - began
    machine["load average at end"] = " ".join(f"{value:.2f}" for value in os.getloadavg())

    print(f"# multus-config benchmarks ({profile.name} profile, {profile.repeat} repetitions, {elapsed:.0f} s)")
    print()
    for key, value in machine.items():
        print(f"- {key}: {value}")
    print()
    print(render_table(profile, all_results))
    print()
    print(render_details(all_results))
    if arguments.json:
        document = {
            "profile": profile.__dict__,
            "machine": machine,
            "elapsed_seconds": elapsed,
            "implementations": [
                {
                    "label": results.implementation.label,
                    "command": results.implementation.command,
                    "ready_notification": results.implementation.ready_notification,
                    "values": results.values,
                    "missing": results.missing,
                    "notes": results.notes,
                }
                for results in all_results
            ],
        }
        Path(arguments.json).write_text(json.dumps(document, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
