"""``python -m gnotifier bench``: the command runs and reports; its figures are never judged here.

One ``--quick`` run (a subprocess, shared by the tests that read its output)
proves that every scenario runs and that both tables and the JSON lines come
out. Speed is the benchmark's business, not the test suite's.
"""

from __future__ import annotations

import importlib.util
import io
import json
import subprocess
import sys
import threading
import time
from typing import Any, Iterator, NamedTuple

import pytest

from gnotifier._bench import _runner
from gnotifier._bench._spec import OPTIONAL, SCENARIO_IDS, SCENARIOS

QUICK_RUN_TIMEOUT = 300  # seconds: a quick run takes well under a minute
WAIT = 10.0  # seconds a fake child waits for the other one (a test bug past that)


class Run(NamedTuple):
    completed: subprocess.CompletedProcess[str]
    json_lines: list[str]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    out = tmp_path_factory.mktemp("bench") / "bench.jsonl"
    completed = subprocess.run(
        [sys.executable, "-m", "gnotifier", "bench", "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=QUICK_RUN_TIMEOUT,
    )
    yield Run(completed, out.read_text().splitlines() if out.exists() else [])


@pytest.mark.timeout(QUICK_RUN_TIMEOUT + 30)
def test_bench_quick_prints_both_tables_and_every_scenario(quick_run: Run) -> None:
    completed = quick_run.completed
    assert completed.returncode == 0, completed.stdout + completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0].startswith("Python ") and "gevent" in lines[0] and "gnotifier" in lines[0]
    assert "Figures (" in completed.stdout and "Targets:" in completed.stdout
    scenarios_in_rows = {line.split()[0] for line in lines if line.split() and line.split()[0] in SCENARIO_IDS}
    assert scenarios_in_rows == set(SCENARIO_IDS)


@pytest.mark.timeout(QUICK_RUN_TIMEOUT + 30)
def test_bench_json_writes_one_parseable_object_per_line(quick_run: Run) -> None:
    records: list[dict[str, Any]] = [json.loads(line) for line in quick_run.json_lines]
    kinds = [record["kind"] for record in records]
    assert kinds[0] == "environment" and "measurement" in kinds and "target" in kinds
    steal = records[0]["steal"]  # the host's share of the CPUs' time during the run; null off Linux
    assert steal is None or 0.0 <= steal <= 1.0
    for record in records:
        if record["kind"] == "measurement":
            assert {"scenario", "impl", "metric", "unit", "values", "median"} <= record.keys()
        elif record["kind"] == "target":
            assert {"scenario", "ratio", "value", "target", "passed"} <= record.keys()
    measured = {(record["scenario"], record["impl"]) for record in records if record["kind"] == "measurement"}
    expected = {
        (scenario.id, impl)
        for scenario in SCENARIOS
        for impl in scenario.impls
        if (scenario.id, impl) not in OPTIONAL or importlib.util.find_spec(OPTIONAL[scenario.id, impl]) is not None
    }
    assert measured == expected


def test_bench_refuses_an_unknown_scenario_naming_the_valid_ones() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "gnotifier", "bench", "--scenarios", "A,X9"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode != 0
    assert "X9" in completed.stderr and "valid: " + ", ".join(SCENARIO_IDS) in completed.stderr
    assert completed.stdout == ""


def test_the_hosts_share_of_the_cpus_is_what_it_stole_over_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_runner.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(_runner, "stolen_seconds", lambda: 11.0)  # one second more than at the start
    share = _runner.steal_share(time.monotonic() - 2.0, 10.0)  # over two seconds of two CPUs
    assert share is not None and 0.2 <= share <= 0.25
    assert _runner.steal_share(time.monotonic() - 2.0, None) is None  # not counted here
    monkeypatch.setattr(_runner, "stolen_seconds", lambda: None)
    assert _runner.steal_share(time.monotonic() - 2.0, 10.0) is None


def test_a_quick_run_runs_its_children_two_at_a_time_and_reports_them_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    runs = [("A", "first"), ("A", "second"), ("B", "fails"), ("B", "last")]
    second_done = threading.Event()
    running: list[str] = []
    most = [0]
    lock = threading.Lock()

    def fake_child(scenario: str, impl: str, quick: bool) -> dict[str, float]:
        with lock:
            running.append(impl)
            most[0] = max(most[0], len(running))
        try:
            if quick and impl == "first":  # finishes after the second: the report keeps the plan's order
                assert second_done.wait(WAIT), "the second child did not run beside the first"
            if impl == "fails":
                raise _runner.ChildFailed(f"{scenario} {impl}: exit status 1")
            return {"value": float(len(impl))}
        finally:
            with lock:
                running.remove(impl)
            if impl == "second":
                second_done.set()

    monkeypatch.setattr(_runner, "run_child", fake_child)
    progress = _runner.Progress(len(runs), io.StringIO())
    for quick, at_once in ((True, _runner.QUICK_AT_ONCE), (False, 1)):
        most[0] = 0
        second_done.clear()
        outcomes = list(_runner.measurements(runs, quick, progress))
        assert [o if isinstance(o, dict) else str(o) for o in outcomes] == [
            {"value": 5.0},
            {"value": 6.0},
            "B fails: exit status 1",
            {"value": 4.0},
        ]
        assert most[0] == at_once
