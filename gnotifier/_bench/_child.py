"""One measurement in a fresh interpreter: ``python -m gnotifier._bench._child SCENARIO IMPL [--quick]``.

The parent (``_runner``) starts one such process per repetition. It
measures in its main thread, warm-up included, and prints one JSON line,
``{"metrics": {name: value}}``, on stdout; anything else goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from types import FrameType
from typing import Callable, Dict, Sequence

from ._spec import SCENARIOS


def _exit_on_term(signum: int, frame: FrameType | None) -> None:
    sys.exit(128 + signum)  # unwinds, so that S's finally blocks stop its server and load processes


def measure_for(scenario: str, impl: str) -> Callable[[bool], Dict[str, float]]:
    if scenario in ("S", "S2"):
        from ._server import MEASURES
    else:
        from ._scenarios import MEASURES
    return MEASURES[scenario, impl]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gnotifier._bench._child")
    parser.add_argument("scenario", choices=[scenario.id for scenario in SCENARIOS])
    parser.add_argument("impl")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_term)
    metrics = measure_for(args.scenario, args.impl)(args.quick)
    sys.stdout.write(json.dumps({"metrics": metrics}) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
