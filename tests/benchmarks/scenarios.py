"""The benchmark scenarios. Each call runs one repetition on fresh temporary nodes.

A scenario returns :class:`Measurements`: values per figure key and notes
for the report. Latencies are in milliseconds, CPU times in seconds and
memory in MiB.
"""

from __future__ import annotations

import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.benchmarks.harness import (
    KUBECONFIG_NAME,
    MULTUS_CONF_NAME,
    REACTION_TIMEOUT,
    READY_TIMEOUT,
    ChangeWatch,
    EventRecorder,
    Implementation,
    InstallWatch,
    Running,
    ScenarioError,
    cpu_nanoseconds,
    cpu_seconds,
    create_unrelated_files,
    delete_unrelated_files,
    kubeconfig_token,
    memory_kib,
    multus_conf_mtu,
    running,
    temporary_node,
    wait_cpu_settled,
)

#: Seconds without a change in the conf dir before the next change is made.
SETTLE_SECONDS = 0.1
#: Seconds without an install after the final content of a burst is in place.
BURST_QUIET_SECONDS = 1.0


@dataclass(frozen=True)
class Profile:
    """Sizes of one benchmark run."""

    name: str
    #: Length of the idle window.
    idle_seconds: float
    #: Repetitions of every scenario, each on fresh nodes.
    repeat: int
    #: Master changes per repetition of the master-change scenario.
    master_changes: int
    #: Token rotations per repetition of the token-swap scenario.
    token_swaps: int
    #: Process starts per repetition of the start-up scenario, each on its own node.
    starts: int
    #: Master changes per repetition of the large-directory scenario.
    large_dir_changes: int
    #: Before each change, a random pause of up to this many seconds, so the
    #: changes fall at every phase of a polling implementation's interval.
    max_pause: float = 1.0
    burst_rewrites: int = 1000
    burst_seconds: float = 1.0
    churn_files: int = 10_000
    large_dir_files: int = 10_000


QUICK = Profile("quick", idle_seconds=5.0, repeat=2, master_changes=10, token_swaps=10, starts=5, large_dir_changes=5)
FULL = Profile("full", idle_seconds=60.0, repeat=3, master_changes=100, token_swaps=50, starts=10, large_dir_changes=30)


class NotApplicable(Exception):
    """The implementation lacks what a scenario needs, such as a flag."""


@dataclass
class Measurements:
    """Values per figure key, and notes, from one repetition of a scenario."""

    values: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    notes: list[str] = field(default_factory=list)

    def add(self, key: str, value: float) -> None:
        self.values[key].append(value)


def _node_name(scenario: str, implementation: Implementation, repetition: int, index: int = 0) -> str:
    safe_label = "".join(character if character.isalnum() else "-" for character in implementation.label)
    return f"{scenario}-{safe_label}-{repetition}-{index}"


# -- readiness probe --------------------------------------------------------------------


def probe_ready_notification(implementation: Implementation, base: Path) -> None:
    """Start once on a fresh node and record whether READY=1 arrives.

    The start is also a warm-up: bytecode caches are written and the
    executable is in the page cache before anything is measured.
    """
    with temporary_node(base, _node_name("probe", implementation, 0)) as node:
        implementation.ready_notification = False
        with running(implementation, node) as run:
            implementation.ready_notification = run.notify.first("READY=1", 5.0) is not None


# -- idle -------------------------------------------------------------------------------


def idle(implementation: Implementation, profile: Profile, base: Path, repetition: int, rng: random.Random) -> Measurements:
    """Count every filesystem event and the CPU time over an idle window, and read VmRSS at its end."""
    result = Measurements()
    with temporary_node(base, _node_name("idle", implementation, repetition)) as node:
        with running(implementation, node) as run:
            recorder = EventRecorder(node.watched_directories())
            try:
                cpu_before = cpu_seconds(run.pid)
                sched_before = cpu_nanoseconds(run.pid)
                time.sleep(profile.idle_seconds)
                cpu_after = cpu_seconds(run.pid)
                sched_after = cpu_nanoseconds(run.pid)
                events = recorder.read()
            finally:
                recorder.close()
            run.check_alive()
            result.add("idle_events", len(events))
            result.add("idle_cpu", cpu_after - cpu_before)
            result.add("idle_cpu_sched", (sched_after - sched_before) / 1e9)
            result.add("rss", memory_kib(run.pid, "VmRSS") / 1024)
            result.add("rss_peak", memory_kib(run.pid, "VmHWM") / 1024)
    if events:
        kinds = Counter(line.rsplit(": ", 1)[1] for line in events)
        summary = ", ".join(f"{kind} x{count}" for kind, count in kinds.most_common(6))
        result.notes.append(f"idle events: {summary}; first: {events[0]}")
    return result


# -- reactions --------------------------------------------------------------------------


def _measure_master_changes(run: Running, count: int, profile: Profile, rng: random.Random, key: str, result: Measurements) -> None:
    """Rename a new primary config into place *count* times and add each latency to *key*."""
    node = run.node
    installs = InstallWatch(node.conf, MULTUS_CONF_NAME)
    changes = ChangeWatch([node.conf, node.kubeconfig.parent] if node.kubeconfig.parent.is_dir() else [node.conf])
    timeouts = wrong = 0
    try:
        for index in range(count):
            time.sleep(rng.uniform(0, profile.max_pause))
            changes.wait_quiet(SETTLE_SECONDS)
            installs.collect()
            mtu = 3000 + index
            staged = node.prepare_master(mtu)
            start = node.install_master(staged)
            end = installs.wait(REACTION_TIMEOUT)
            if end is None:
                run.check_alive()
                timeouts += 1
                continue
            result.add(key, (end - start) / 1e6)
            if multus_conf_mtu(node.multus_conf) != mtu:
                wrong += 1
    finally:
        installs.close()
        changes.close()
    if timeouts:
        result.notes.append(f"{key}: {timeouts} of {count} changes not installed within {REACTION_TIMEOUT:g} s")
    if wrong:
        result.notes.append(f"{key}: {wrong} of {count} first installs after a change did not hold the new MTU")


def master_change(implementation: Implementation, profile: Profile, base: Path, repetition: int, rng: random.Random) -> Measurements:
    """Measure the time from an atomic rename of the primary config to the new 00-multus.conf in place."""
    result = Measurements()
    with temporary_node(base, _node_name("master", implementation, repetition)) as node:
        with running(implementation, node) as run:
            _measure_master_changes(run, profile.master_changes, profile, rng, "master_change", result)
    return result


def large_dir_change(implementation: Implementation, profile: Profile, base: Path, repetition: int, rng: random.Random) -> Measurements:
    """Measure master changes in a conf dir that also contains 10,000 unrelated files."""
    result = Measurements()
    name = _node_name("large-dir", implementation, repetition)
    with temporary_node(base, name, unrelated_files=profile.large_dir_files) as node:
        with running(implementation, node) as run:
            _measure_master_changes(run, profile.large_dir_changes, profile, rng, "large_dir_change", result)
    return result


def token_swap(implementation: Implementation, profile: Profile, base: Path, repetition: int, rng: random.Random) -> Measurements:
    """Measure the time from kubelet's ``..data`` symlink swap to the new kubeconfig in place."""
    if not implementation.service_account_flag:
        raise NotApplicable("no --service-account-dir flag, so the kubeconfig cannot follow a test account")
    result = Measurements()
    timeouts = wrong = 0
    with temporary_node(base, _node_name("token", implementation, repetition)) as node:
        with running(implementation, node) as run:
            installs = InstallWatch(node.kubeconfig.parent, KUBECONFIG_NAME)
            changes = ChangeWatch([node.conf, node.kubeconfig.parent])
            try:
                for index in range(profile.token_swaps):
                    time.sleep(rng.uniform(0, profile.max_pause))
                    changes.wait_quiet(SETTLE_SECONDS)
                    installs.collect()
                    token = f"token-{repetition}-{index + 1}"
                    start = node.rotate_token(token)
                    end = installs.wait(REACTION_TIMEOUT)
                    if end is None:
                        run.check_alive()
                        timeouts += 1
                        continue
                    result.add("token_swap", (end - start) / 1e6)
                    if kubeconfig_token(node.kubeconfig) != token:
                        wrong += 1
            finally:
                installs.close()
                changes.close()
    if timeouts:
        result.notes.append(f"token_swap: {timeouts} of {profile.token_swaps} rotations not installed within {REACTION_TIMEOUT:g} s")
    if wrong:
        result.notes.append(f"token_swap: {wrong} of {profile.token_swaps} first installs after a rotation did not hold the new token")
    return result


# -- start-up ---------------------------------------------------------------------------


def start(implementation: Implementation, profile: Profile, base: Path, repetition: int, rng: random.Random) -> Measurements:
    """Measure process start to READY=1 and to 00-multus.conf in place, on a ready node."""
    result = Measurements()
    for index in range(profile.starts):
        with temporary_node(base, _node_name("start", implementation, repetition, index)) as node:
            installs = InstallWatch(node.conf, MULTUS_CONF_NAME)
            try:
                with running(implementation, node, wait_ready=False) as run:
                    written = installs.wait(READY_TIMEOUT)
                    if written is None:
                        run.check_alive()
                        raise ScenarioError(f"{implementation.label} did not write {MULTUS_CONF_NAME} within {READY_TIMEOUT:g} s")
                    result.add("start_file", (written - run.started_ns) / 1e6)
                    if implementation.ready_notification:
                        ready = run.notify.first("READY=1", READY_TIMEOUT)
                        if ready is None:
                            raise ScenarioError(f"{implementation.label} sent no READY=1 within {READY_TIMEOUT:g} s")
                        result.add("start_ready", (ready - run.started_ns) / 1e6)
            finally:
                installs.close()
    return result


# -- bursts -----------------------------------------------------------------------------


def burst(implementation: Implementation, profile: Profile, base: Path, repetition: int, rng: random.Random) -> Measurements:
    """Rewrite the primary config 1,000 times within 1 s, count the installs and check the final content."""
    result = Measurements()
    with temporary_node(base, _node_name("burst", implementation, repetition)) as node:
        with running(implementation, node) as run:
            installs = InstallWatch(node.conf, MULTUS_CONF_NAME)
            quiet = ChangeWatch([node.conf])
            try:
                interval_ns = int(profile.burst_seconds * 1e9 / profile.burst_rewrites)
                first = time.monotonic_ns()
                last = first
                final_mtu = 0
                for index in range(profile.burst_rewrites):
                    due = first + index * interval_ns
                    delay = due - time.monotonic_ns()
                    if delay > 0:
                        time.sleep(delay / 1e9)
                    final_mtu = 2000 + index
                    last = node.install_master(node.prepare_master(final_mtu))
                installed_at = _wait_for_content(run, installs, final_mtu)
                quiet.wait_quiet(BURST_QUIET_SECONDS, timeout=30.0)
                installs.collect()
            finally:
                installs.close()
                quiet.close()
            run.check_alive()
            correct = multus_conf_mtu(node.multus_conf) == final_mtu
    result.add("burst_installs", installs.count)
    result.add("burst_correct", 1.0 if correct else 0.0)
    if installed_at is not None:
        result.add("burst_settle", (installed_at - last) / 1e6)
    result.notes.append(f"burst: {profile.burst_rewrites} rewrites took {(last - first) / 1e9:.3f} s")
    if installs.overflowed:
        result.notes.append("burst: the benchmark's inotify queue overflowed, so installs may be undercounted")
    return result


def _wait_for_content(run: Running, installs: InstallWatch, mtu: int) -> int | None:
    """Wait until an install leaves *mtu* in 00-multus.conf and return when it was read, or ``None``.

    Installs queued during the burst are read only now, so the time is an upper bound.
    """
    deadline = time.monotonic() + REACTION_TIMEOUT
    while True:
        remaining = deadline - time.monotonic()
        seen = installs.wait(remaining) if remaining > 0 else None
        if seen is None:
            run.check_alive()
            return None
        if multus_conf_mtu(run.node.multus_conf) == mtu:
            return seen


def churn(implementation: Implementation, profile: Profile, base: Path, repetition: int, rng: random.Random) -> Measurements:
    """Create and delete 10,000 unrelated files in the conf dir, and count installs and the CPU they cost."""
    result = Measurements()
    with temporary_node(base, _node_name("churn", implementation, repetition)) as node:
        with running(implementation, node) as run:
            installs = InstallWatch(node.conf, MULTUS_CONF_NAME)
            try:
                cpu_before = cpu_seconds(run.pid)
                began = time.monotonic()
                create_unrelated_files(node.conf, profile.churn_files, installs)
                delete_unrelated_files(node.conf, profile.churn_files, installs)
                elapsed = time.monotonic() - began
                wait_cpu_settled(run.pid)
                cpu_after = cpu_seconds(run.pid)
                installs.collect()
            finally:
                installs.close()
            run.check_alive()
    result.add("churn_installs", installs.count)
    result.add("churn_cpu", cpu_after - cpu_before)
    result.notes.append(f"churn: creating and deleting {profile.churn_files} files took {elapsed:.2f} s")
    if installs.overflowed:
        result.notes.append("churn: the benchmark's inotify queue overflowed, so installs may be undercounted")
    return result


Scenario = Callable[[Implementation, Profile, Path, int, random.Random], Measurements]

#: Scenarios by name, in the order they run.
SCENARIOS: dict[str, Scenario] = {
    "start": start,
    "idle": idle,
    "master": master_change,
    "token": token_swap,
    "burst": burst,
    "churn": churn,
    "large-dir": large_dir_change,
}
