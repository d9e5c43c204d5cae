"""A short run of the SIGKILL loop, and checks that its file checks catch torn files."""

from __future__ import annotations

import random

from tests.stress.kill_loop import (
    CONF_NAME,
    CONFLIST_NAME,
    KillLoop,
    Summary,
    classify,
    config_problem,
    format_summary,
    run_kill_loop,
)

#: Iterations of the short run. The command runs 300 by default.
CI_ITERATIONS = 30


def test_kill_loop_short_run(tmp_path):
    seed = random.randrange(2**32)
    summary = run_kill_loop(CI_ITERATIONS, tmp_path, seed)
    report = f"rerun with: python -m tests.stress.kill_loop --iterations {CI_ITERATIONS} --seed {seed}\n{format_summary(summary)}"

    assert summary.violations == [], report
    assert summary.kills == CI_ITERATIONS, report
    assert summary.convergences == CI_ITERATIONS, report
    assert summary.writer_changes > 0, report


def test_classify_names_each_fault():
    renders = [b'{"a": 1}\n', b'{"b": 22}\n']

    assert classify(renders[1], renders, config_problem) is None
    assert classify(b"", renders, config_problem) == "empty"
    assert classify(b'{"b": 2', renders, config_problem).startswith("partial")
    assert classify(renders[0] + b"2}\n", renders, config_problem).startswith("trailing bytes")
    assert classify(b"[1, 2]", renders, config_problem).startswith("does not parse")
    assert classify(b'{"c": 3}', renders, config_problem) == "parses but equals no render"


def test_check_after_kill_reports_torn_files(tmp_path):
    loop = KillLoop(tmp_path, Summary(iterations=0, seed=0, max_delay=0, max_interval=0))
    loop.prepare()
    renders = loop.renders
    conf_render = next(content for name, content in renders.configs if name == CONF_NAME)
    conf_dir = loop.node.conf
    (conf_dir / CONF_NAME).write_bytes(conf_render[: len(conf_render) // 2])
    (conf_dir / CONFLIST_NAME).write_bytes(b"")
    loop.node.kubeconfig.parent.mkdir(exist_ok=True)
    loop.node.kubeconfig.write_bytes(renders.kubeconfigs[0] + b"token: stale\n")
    for path in (conf_dir / CONF_NAME, conf_dir / CONFLIST_NAME, loop.node.kubeconfig):
        path.chmod(0o600)
    (conf_dir / "00-multus.conf.new").write_bytes(conf_render)

    problems = loop.check_after_kill()

    assert any(problem.startswith(f"{CONF_NAME}: partial") for problem in problems), problems
    assert any(problem.startswith(f"{CONFLIST_NAME}: empty") for problem in problems), problems
    assert any(problem.startswith("multus.d/multus.kubeconfig: trailing bytes") for problem in problems), problems
    assert "unexpected file 00-multus.conf.new" in problems
    assert len(problems) == 4, problems
