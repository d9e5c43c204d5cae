"""Profile the start-up of multus-config: import cost per package, memory per dependency.

Usage (from the repository root)::

    .venv/bin/python -m tests.benchmarks.importtime [--top N] [--profile]

1. Runs the real start path, ``python -X importtime -m supervisor FLAGS`` on a
   temporary ready node with a notify socket, stops it right after READY=1,
   and sums the import times per top-level package.
2. Starts fresh interpreters that each import one dependency and reports the
   VmRSS it adds, alone and in the order of the start path.
3. Reports wall-clock times: a bare interpreter, ``--help``, start to READY=1.
4. With ``--profile``, runs the start path under cProfile and prints the
   functions with the largest cumulative time. The process is stopped with
   SIGTERM right after READY=1, so the profile also contains the stop.

Timings under ``-X importtime`` and cProfile are inflated by the
instrumentation. The wall-clock section is taken without either.
"""

from __future__ import annotations

import argparse
import ast
import io
import json
import pstats
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.benchmarks.harness import (
    NODE_FILE_FLAGS,
    READY_TIMEOUT,
    Implementation,
    ScenarioError,
    memory_kib,
    process_environment,
    running,
    temporary_node,
)

#: Standard-library modules the start path imports, then third-party packages, then the project.
STDLIB_MODULES = [
    "re",
    "json",
    "argparse",
    "logging",
    "pathlib",
    "dataclasses",
    "selectors",
    "socket",
    "signal",
    "fcntl",
    "base64",
    "hashlib",
    "secrets",
    "decimal",
    "importlib.metadata",
    "ctypes",
]
THIRD_PARTY_MODULES = ["pluggy", "transitions", "inotify_simple", "sdnotify", "systemd.journal"]
PROJECT_MODULES = ["supervisor.cli", "supervisor.loop"]
#: Last step of the start-order measurement: plugin discovery through entry points.
PLUGIN_DISCOVERY = "plugin discovery (entry points)"

_IMPORT_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| ( *)(\S.*)$")


# -- -X importtime ------------------------------------------------------------------------


@dataclass
class ImportRecord:
    """One line of ``-X importtime`` output."""

    name: str
    self_us: int
    cumulative_us: int
    depth: int
    parent: ImportRecord | None = None

    @property
    def package(self) -> str:
        return self.name.split(".")[0]


@dataclass
class PackageCost:
    """Import cost of one top-level package."""

    package: str
    modules: int = 0
    #: Time spent in the package's own modules.
    self_us: int = 0
    #: Time of the package's outermost imports, including what they imported first.
    cumulative_us: int = 0
    importers: set[str] = field(default_factory=set)


def parse_importtime(text: str) -> list[ImportRecord]:
    """Return the records of ``-X importtime`` output with their parents linked.

    Python prints a module when its import finishes, so a parent follows its
    children, one indentation level (two spaces) further out.
    """
    records = []
    for line in text.splitlines():
        match = _IMPORT_LINE.match(line)
        if match:
            self_us, cumulative_us, indent, name = match.groups()
            records.append(ImportRecord(name.strip(), int(self_us), int(cumulative_us), len(indent) // 2))
    open_parents: dict[int, ImportRecord] = {}
    for record in reversed(records):
        record.parent = open_parents.get(record.depth - 1)
        open_parents[record.depth] = record
        for deeper in [depth for depth in open_parents if depth > record.depth]:
            del open_parents[deeper]
    return records


def costs_by_package(records: list[ImportRecord]) -> list[PackageCost]:
    """Sum the records per top-level package, most expensive (cumulative) first."""
    costs: dict[str, PackageCost] = {}
    for record in records:
        cost = costs.setdefault(record.package, PackageCost(record.package))
        cost.modules += 1
        cost.self_us += record.self_us
        parent_package = record.parent.package if record.parent else None
        if parent_package != record.package:
            cost.cumulative_us += record.cumulative_us
            cost.importers.add(parent_package or "(top level)")
    return sorted(costs.values(), key=lambda cost: cost.cumulative_us, reverse=True)


def run_start_path(base: Path, prefix: list[str]) -> tuple[str, float]:
    """Start ``PREFIX -m supervisor`` on a fresh node and return its output and the ms to READY=1."""
    implementation = Implementation("multus-config", [*prefix, "-m", "supervisor"], service_account_flag=True, node_file_flags=tuple(NODE_FILE_FLAGS))
    with temporary_node(base, "start-path") as node:
        with running(implementation, node, wait_ready=False) as run:
            ready = run.notify.first("READY=1", READY_TIMEOUT)
            if ready is None:
                raise ScenarioError(f"no READY=1 within {READY_TIMEOUT:g} s: {run.log_tail()}")
        return run.log_path.read_text(errors="replace"), (ready - run.started_ns) / 1e6


def render_import_table(costs: list[PackageCost], top: int) -> str:
    lines = [
        "| package | modules | self ms | cumulative ms | first imported by |",
        "|---|---|---|---|---|",
    ]
    for cost in costs[:top]:
        importers = ", ".join(sorted(cost.importers))
        lines.append(f"| {cost.package} | {cost.modules} | {cost.self_us / 1000:.1f} | {cost.cumulative_us / 1000:.1f} | {importers} |")
    return "\n".join(lines)


# -- memory per dependency -------------------------------------------------------------------

#: Child program: VmRSS (KiB) before and after importing each name in argv, and the ms each took.
#: It imports nothing itself before the first reading, so the baseline is a bare interpreter.
_MEMORY_CHILD = """
import sys, time, importlib
def rss():
    with open('/proc/self/status') as status:
        for line in status:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
steps = [('(interpreter)', rss(), 0.0)]
for name in sys.argv[1:]:
    began = time.perf_counter()
    try:
        if name == %(discovery)r:
            from supervisor.hooks import create_plugin_manager
            create_plugin_manager()
        else:
            importlib.import_module(name)
    except ImportError as error:
        steps.append((name, None, str(error)))
        continue
    steps.append((name, rss(), (time.perf_counter() - began) * 1000))
print(repr(steps))
""" % {"discovery": PLUGIN_DISCOVERY}


def measure_imports(names: Sequence[str]) -> list[tuple[str, int | None, float | str]]:
    """Import *names* in order in one fresh interpreter.

    Return one ``(name, VmRSS in KiB or None, ms or error message)`` per step.
    """
    output = subprocess.run(
        [sys.executable, "-c", _MEMORY_CHILD, *names],
        capture_output=True,
        check=True,
        env=process_environment(None),
        timeout=60,
    ).stdout
    return ast.literal_eval(output.decode())


@dataclass
class MemoryRow:
    name: str
    alone_kib: int | None = None
    alone_ms: float | None = None
    in_order_kib: int | None = None
    error: str = ""


def start_order(records: list[ImportRecord]) -> list[str]:
    """Return the measured modules that the start path imports, in the order their imports finished.

    Plugin discovery is placed where the last ``plugins`` module finished, so
    the modules the plugins import are measured on their own first.
    """
    finished = {}
    for index, record in enumerate(records):
        finished.setdefault(record.name, float(index))
    plugin_modules = [index for index, record in enumerate(records) if record.package == "plugins"]
    if plugin_modules:
        finished[PLUGIN_DISCOVERY] = max(plugin_modules) + 0.5
    names = [*STDLIB_MODULES, *THIRD_PARTY_MODULES, *PROJECT_MODULES, PLUGIN_DISCOVERY]
    return sorted((name for name in names if name in finished), key=finished.__getitem__)


def measure_memory(records: list[ImportRecord]) -> tuple[int, list[MemoryRow], int]:
    """Return the bare interpreter's VmRSS, one row per module, and VmRSS after the start path's imports.

    Rows of modules on the start path come first, in its order. The others
    (such as ``systemd.journal``, imported only under the journal) follow.
    """
    order = start_order(records)
    names = order + [name for name in [*STDLIB_MODULES, *THIRD_PARTY_MODULES, *PROJECT_MODULES] if name not in order]
    rows = {name: MemoryRow(name) for name in names}
    baselines = []
    for name in names:
        steps = measure_imports([name])
        (_, baseline, _), (_, after, taken) = steps
        baselines.append(baseline)
        if after is None:
            rows[name].error = str(taken)
        else:
            rows[name].alone_kib = after - baseline
            rows[name].alone_ms = float(taken)
    steps = measure_imports(order)
    previous = steps[0][1]
    for name, after, _ in steps[1:]:
        rows[name].in_order_kib = after - previous
        previous = after
    return int(statistics.median(baselines)), list(rows.values()), previous


def render_memory_table(baseline: int, rows: list[MemoryRow], total: int) -> str:
    lines = [
        "| module | RSS added alone | import ms alone | RSS added in start order |",
        "|---|---|---|---|",
        f"| (bare interpreter) | {baseline / 1024:.1f} MiB | | {baseline / 1024:.1f} MiB |",
    ]
    for row in rows:
        if row.error:
            lines.append(f"| {row.name} | not installed ({row.error}) | | |")
            continue
        in_order = "not on the start path" if row.in_order_kib is None else f"{row.in_order_kib / 1024:.1f} MiB"
        lines.append(f"| {row.name} | {row.alone_kib / 1024:.1f} MiB | {row.alone_ms:.1f} | {in_order} |")
    lines.append(f"| (after every import of the start path) | | | {total / 1024:.1f} MiB |")
    return "\n".join(lines)


# -- wall clock -------------------------------------------------------------------------------


def wall_ms(command: Sequence[str], runs: int) -> float:
    """Return the median wall-clock time of *command* over *runs* runs, in ms."""
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run(command, capture_output=True, check=False, env=process_environment(None), timeout=60)
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def steady_rss_mib(base: Path) -> float:
    """Return VmRSS of a real supervisor right after its first steady state, in MiB."""
    implementation = Implementation("multus-config", [sys.executable, "-m", "supervisor"], service_account_flag=True, node_file_flags=tuple(NODE_FILE_FLAGS))
    implementation.ready_notification = True
    with temporary_node(base, "rss") as node:
        with running(implementation, node) as run:
            return memory_kib(run.pid) / 1024


# -- cProfile ----------------------------------------------------------------------------------


def profile_start_path(base: Path, top: int) -> str:
    """Run the start path under cProfile, stop it after READY=1 and return the top functions by cumulative time."""
    output = base / "start.prof"
    run_start_path(base, [sys.executable, "-m", "cProfile", "-o", str(output)])
    stream = io.StringIO()
    stats = pstats.Stats(str(output), stream=stream)
    stats.sort_stats("cumulative").print_stats(top)
    return stream.getvalue()


# -- main ----------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.importtime", description=__doc__.split("\n\n")[0])
    parser.add_argument("--top", type=int, default=25, help="packages (and profiled functions) to list (default: 25)")
    parser.add_argument("--profile", action="store_true", help="also profile the start path with cProfile")
    parser.add_argument("--runs", type=int, default=10, help="runs per wall-clock figure (default: 10)")
    parser.add_argument("--json", metavar="PATH", help="also write the figures to this JSON file")
    arguments = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="multus-config-importtime-") as directory:
        base = Path(directory)
        # A first start writes any missing bytecode caches, so they are not timed.
        run_start_path(base, [sys.executable])
        text, _ = run_start_path(base, [sys.executable, "-X", "importtime"])
        records = parse_importtime(text)
        costs = costs_by_package(records)
        total_us = sum(record.self_us for record in records)

        print("## Import time of the start path (python -X importtime -m supervisor ..., until READY=1)")
        print()
        print(render_import_table(costs, arguments.top))
        print()
        print(f"{len(records)} modules, {total_us / 1000:.1f} ms in total (sum of self times, with -X importtime overhead).")
        print("self: time in the package's own modules. cumulative: its outermost imports, including")
        print("packages they imported first, so cumulative times overlap and do not add up.")
        print()

        baseline, rows, total = measure_memory(records)
        print("## Resident memory added per module (fresh interpreters)")
        print()
        print(render_memory_table(baseline, rows, total))
        print()
        rss = steady_rss_mib(base)
        print(f"VmRSS of a real supervisor at its first steady state: {rss:.1f} MiB.")
        print()

        interpreter = wall_ms([sys.executable, "-c", "pass"], arguments.runs)
        help_ms = wall_ms([sys.executable, "-m", "supervisor", "--help"], arguments.runs)
        ready = statistics.median(run_start_path(base, [sys.executable])[1] for _ in range(arguments.runs))
        print(f"## Wall clock (median of {arguments.runs} runs)")
        print()
        print("| step | ms |")
        print("|---|---|")
        print(f"| bare interpreter (python -c pass) | {interpreter:.1f} |")
        print(f"| python -m supervisor --help | {help_ms:.1f} |")
        print(f"| python -m supervisor on a ready node, start to READY=1 | {ready:.1f} |")

        if arguments.profile:
            print()
            print("## cProfile of the start path, stopped with SIGTERM right after READY=1 (sorted by cumulative time)")
            print()
            print("```")
            print(profile_start_path(base, arguments.top).rstrip())
            print("```")

    if arguments.json:
        document = {
            "imports": [cost.__dict__ | {"importers": sorted(cost.importers)} for cost in costs],
            "import_total_us": total_us,
            "memory_baseline_kib": baseline,
            "memory": [row.__dict__ for row in rows],
            "memory_all_kib": total,
            "steady_rss_mib": rss,
            "wall_ms": {"interpreter": interpreter, "help": help_ms, "start_to_ready": ready},
        }
        Path(arguments.json).write_text(json.dumps(document, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
