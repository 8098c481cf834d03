"""The examples run and print what cl-async's originals print."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(name: str, *args: str) -> list[str]:
    completed = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""
    return completed.stdout.splitlines()


@pytest.mark.parametrize("seconds", ["0.3"], ids=["shortened"])
def test_examples_queue_background_job_prints_result_in_hub_thread(seconds: str) -> None:
    assert run_example("queue_background_job.py", seconds) == [
        "Job finished! 42",
        "(the callback ran in the MainThread)",
    ]


@pytest.mark.parametrize("seconds", ["0.6"], ids=["shortened"])
def test_examples_promises_loop_runs_while_work_runs_then_value_then_catch(seconds: str) -> None:
    assert run_example("promises.py", seconds) == [
        "event loop still running...",
        "got val: 9",
        "caught: ZeroDivisionError('division by zero')",
    ]


def test_examples_process_pool_prints_worst_lag_for_threads_then_processes() -> None:
    lines = run_example("process_pool.py", "20000")
    assert [line.split(":")[0] for line in lines] == ["threads", "processes"]
    for line in lines:
        assert line.split(":")[1].strip().startswith("worst heartbeat lag ")
        assert line.endswith(" ms")


def test_examples_thread_bridge_library_thread_gets_answers_from_greenlets() -> None:
    assert run_example("thread_bridge.py", "4") == [
        "library: 1 squared is 1",
        "library: 2 squared is 4",
        "library: 3 squared is 9",
        "library: 4 squared is 16",
        "hub: the library is done",
    ]
