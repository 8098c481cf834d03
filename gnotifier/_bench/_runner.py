"""``python -m gnotifier bench``: every measurement in a fresh interpreter, then the tables.

Runs in the parent process. For each scenario it runs every implementation
once per repetition, interleaved (a noisy spell of the machine then hits them
alike), each time in a new ``python -m gnotifier._bench._child`` with this
process's environment, and reads the one JSON line that child prints. It
prints the figures (median and spread over the repetitions) and the targets
of the scenarios on stdout, progress on stderr when that is a terminal.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from typing import Any, Dict, Iterator, List, Sequence, TextIO, Tuple

from .._throttle import stolen_seconds
from . import _server
from ._spec import OPTIONAL, SCENARIO_IDS, SCENARIOS, TARGETS, UNITS, Target

# A quick run measures nothing: its children run this many at a time (the
# suite's smoke run took 19 s one by one on 2 cores).
QUICK_AT_ONCE = 2
NOTABLE_STEAL = 0.05  # a share of the CPUs' time taken by the host that the run's notes mention
Figures = Dict[Tuple[str, str], Dict[str, List[float]]]  # (scenario, impl) -> metric -> one value per repetition


def _scenario_list(text: str) -> Tuple[str, ...]:
    wanted = [part.strip().upper() for part in text.split(",") if part.strip()]
    unknown = [part for part in wanted if part not in SCENARIO_IDS]
    if unknown or not wanted:
        what = f"unknown scenario {', '.join(unknown)}" if unknown else "no scenario given"
        raise argparse.ArgumentTypeError(f"{what}; valid: {', '.join(SCENARIO_IDS)}")
    return tuple(scenario for scenario in SCENARIO_IDS if scenario in wanted)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, not {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scenarios",
        type=_scenario_list,
        default=SCENARIO_IDS,
        metavar="A,B,...",
        help=f"the scenarios to run, comma-separated, from {', '.join(SCENARIO_IDS)} (default: all)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=(
            "a smoke run: about 1/100 of every count, S for ~1 s a side, two children at a time,"
            " one repetition unless --reps says more"
        ),
    )
    parser.add_argument(
        "--reps",
        type=_positive_int,
        metavar="N",
        help="fresh interpreters per measurement; the median is reported (default: 3, with --quick 1)",
    )
    parser.add_argument(
        "--json",
        metavar="FILE",
        help="also write one JSON object per line: the environment, each measurement and each target",
    )


# -- the environment --------------------------------------------------------------


def environment() -> Dict[str, Any]:
    import gevent

    import gnotifier

    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "gevent": gevent.__version__,
        "loop": gevent.config.loop.__module__,
        "gnotifier": gnotifier.__version__,
        "build": "compiled" if getattr(gnotifier, "_compiled", False) else "pure-Python",
        "cpus": os.cpu_count(),
    }


def steal_share(started: float, stolen_before: float | None) -> float | None:
    """The share of the CPUs' time since ``started`` that the hypervisor gave other machines; None where unknown."""
    stolen_after = stolen_seconds()
    elapsed = time.monotonic() - started
    if stolen_before is None or stolen_after is None or elapsed <= 0:
        return None
    return round((stolen_after - stolen_before) / (elapsed * (os.cpu_count() or 1)), 4)


def describe(env: Dict[str, Any]) -> str:
    return (
        f"Python {env['python']} ({env['implementation']}), gevent {env['gevent']} (loop {env['loop']}), "
        f"gnotifier {env['gnotifier']} ({env['build']}), {env['cpus']} CPUs"
    )


# -- running the children ---------------------------------------------------------


class ChildFailed(Exception):
    pass


def run_child(scenario: str, impl: str, quick: bool) -> Dict[str, float]:
    """One measurement in a fresh interpreter; its metrics."""
    command = [sys.executable, "-m", "gnotifier._bench._child", scenario, impl, *(["--quick"] if quick else [])]
    timeout = 120 if quick else 600
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        child.terminate()  # the child stops what it started (S: its server and load generator)
        try:
            out, err = child.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            out, err = child.communicate()
        raise ChildFailed(f"{scenario} {impl}: no answer within {timeout} s\n{err[-2000:]}") from None
    except BaseException:  # Ctrl-C reaches the child too; let it clean up
        child.terminate()
        child.wait(30)
        raise
    lines = out.strip().splitlines()
    try:
        metrics: Dict[str, float] = json.loads(lines[-1])["metrics"]
    except (IndexError, ValueError, KeyError, TypeError):
        raise ChildFailed(f"{scenario} {impl}: exit status {child.returncode}\n{err[-2000:]}") from None
    return metrics


def _outcome(scenario: str, impl: str, quick: bool) -> Dict[str, float] | ChildFailed:
    try:
        return run_child(scenario, impl, quick)
    except ChildFailed as error:
        return error


def measurements(
    runs: Sequence[Tuple[str, str]], quick: bool, progress: Progress
) -> Iterator[Dict[str, float] | ChildFailed]:
    """Each run's metrics (or why it failed), in the order of ``runs``: one at a time, but for a quick run."""
    if not quick:
        for done, (scenario, impl) in enumerate(runs):
            progress.show(done, f"{scenario} {impl}")
            yield _outcome(scenario, impl, quick)
        return
    pool = concurrent.futures.ThreadPoolExecutor(QUICK_AT_ONCE, thread_name_prefix="bench-child")
    try:
        futures = [pool.submit(_outcome, scenario, impl, quick) for scenario, impl in runs]
        for done, ((scenario, impl), future) in enumerate(zip(runs, futures)):
            progress.show(done, f"{scenario} {impl}")
            yield future.result()
    finally:  # Ctrl-C: the children running stop with it, and no other starts
        pool.shutdown(wait=True, cancel_futures=True)


class Progress:
    """``[#####.....] 12/40 B gevent`` on stderr, rewritten in place; silent unless stderr is a terminal."""

    WIDTH = 20

    def __init__(self, total: int, stream: TextIO = sys.stderr) -> None:
        self.total, self.stream = total, stream
        self.shown = stream.isatty()

    def show(self, done: int, what: str) -> None:
        if self.shown:
            filled = self.WIDTH * done // max(1, self.total)
            bar = "#" * filled + "." * (self.WIDTH - filled)
            self.stream.write(f"\r[{bar}] {done}/{self.total} {what}".ljust(60))
            self.stream.flush()

    def finish(self) -> None:
        if self.shown:
            self.stream.write("\r" + " " * 60 + "\r")
            self.stream.flush()


def plan(scenarios: Sequence[str], reps: int) -> Tuple[List[Tuple[str, str]], List[str]]:
    """The (scenario, impl) runs in order, and notes on what was left out or replaced."""
    runs: List[Tuple[str, str]] = []
    notes: List[str] = []
    for scenario in SCENARIOS:
        if scenario.id not in scenarios:
            continue
        impls = []
        for impl in scenario.impls:
            package = OPTIONAL.get((scenario.id, impl))
            if package is not None and importlib.util.find_spec(package) is None:
                notes.append(f"{scenario.id} {impl}: skipped, {package} is not installed")
            else:
                impls.append(impl)
        runs += [(scenario.id, impl) for _ in range(reps) for impl in impls]
    if "S" in scenarios or "S2" in scenarios:
        why_not = _server.why_not_gunicorn()
        if why_not is None:
            notes.append("S, S2: gunicorn -k gevent -w 1, -w 2")
        else:
            notes.append(f"S, S2: {why_not}; gevent.pywsgi (patched, TCP_NODELAY) instead, in one process, in two")
    if "F" in scenarios:
        notes.append("F gevent: spawn() waits while its pool is busy, so each pending job is a greenlet waiting in it")
    return runs, notes


# -- the tables -------------------------------------------------------------------


def figure(value: float) -> str:
    if value == 0:
        return "0"
    size = abs(value)
    if size >= 1000:
        return f"{value:,.0f}"
    if size >= 100:
        return f"{value:.0f}"
    if size >= 10:
        return f"{value:.1f}"
    if size >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[int]) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        cells = [cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i]) for i, cell in enumerate(row)]
        return "  ".join(cells).rstrip()

    return "\n".join([line(header), line(["-" * width for width in widths]), *map(line, rows)])


@dataclasses.dataclass
class Checked:
    target: Target
    value: float | None  # None: a figure it needs is missing (or divides by zero)

    @property
    def passed(self) -> bool | None:
        return None if self.value is None else self.target.passed(self.value)


def check(target: Target, figures: Figures) -> Checked:
    values = figures.get((target.scenario, target.impl), {}).get(target.metric)
    if not values:
        return Checked(target, None)
    mine = max(values) if target.worst else statistics.median(values)
    if target.versus is None:
        return Checked(target, mine)
    theirs = figures.get((target.scenario, target.versus), {}).get(target.metric)
    if not theirs or statistics.median(theirs) == 0:
        return Checked(target, None)
    return Checked(target, mine / statistics.median(theirs))


def report(figures: Figures, checks: Sequence[Checked], reps: int) -> str:
    rows = [
        [
            scenario,
            impl,
            metric,
            figure(statistics.median(values)),
            UNITS[metric],
            f"{figure(min(values))}-{figure(max(values))}",
        ]
        for (scenario, impl), metrics in figures.items()
        for metric, values in metrics.items()
    ]
    measured = table(["scenario", "implementation", "metric", "median", "unit", "min-max"], rows, numeric=[3, 5])
    verdicts = [
        [
            c.target.scenario,
            c.target.name,
            "n/a" if c.value is None else figure(c.value),
            f"{c.target.op} {c.target.bound:g}",
            {None: "n/a", True: "pass", False: "FAIL"}[c.passed],
        ]
        for c in checks
    ]
    targets = table(["scenario", "target", "value", "bound", "result"], verdicts, numeric=[2])
    runs = "1 run" if reps == 1 else f"{reps} runs"
    return f"\nFigures ({runs} each, each in a fresh interpreter):\n{measured}\n\nTargets:\n{targets}"


def json_lines(env: Dict[str, Any], figures: Figures, checks: Sequence[Checked]) -> List[str]:
    records: List[Dict[str, Any]] = [{"kind": "environment", **env}]
    for (scenario, impl), metrics in figures.items():
        for metric, values in metrics.items():
            median = statistics.median(values)
            records.append({"kind": "measurement", "scenario": scenario, "impl": impl, "metric": metric})
            records[-1].update(unit=UNITS[metric], values=values, median=median)
    for c in checks:
        records.append({"kind": "target", "scenario": c.target.scenario, "ratio": c.target.name, "value": c.value})
        records[-1].update(target=f"{c.target.op} {c.target.bound:g}", op=c.target.op, bound=c.target.bound)
        records[-1].update(passed=c.passed)
    return [json.dumps(record) for record in records]


def run(args: argparse.Namespace) -> int:
    quick: bool = args.quick
    reps: int = args.reps or (1 if quick else 3)
    env = environment()
    print(describe(env), flush=True)
    runs, notes = plan(args.scenarios, reps)
    figures: Figures = {}
    failures: List[str] = []
    progress = Progress(len(runs))
    started, stolen_before = time.monotonic(), stolen_seconds()
    for (scenario, impl), metrics in zip(runs, measurements(runs, quick, progress)):
        if isinstance(metrics, ChildFailed):
            failures.append(str(metrics))
            continue
        for metric, value in metrics.items():
            figures.setdefault((scenario, impl), {}).setdefault(metric, []).append(float(value))
    progress.finish()
    env["steal"] = steal_share(started, stolen_before)
    if env["steal"] is not None and env["steal"] >= NOTABLE_STEAL:
        notes.append(
            f"the host took {env['steal']:.0%} of the CPUs' time during this run (steal, from /proc/stat): "
            "a busy host moves figures between runs more than usual"
        )
    checks = [check(target, figures) for target in TARGETS if target.scenario in args.scenarios]
    print(report(figures, checks, reps))
    for note in notes:
        print(f"note: {note}")
    for failure in failures:
        print(f"failed: {failure}")
    if args.json:
        with open(args.json, "w") as out:
            out.writelines(line + "\n" for line in json_lines(env, figures, checks))
    return 1 if failures else 0
