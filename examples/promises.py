"""cl-async's promise example, on gevent.

``work`` runs a slow computation on a real OS thread and hands back a
promise; a one-second delay shows the event loop still running meanwhile;
then the value arrives in the hub. A failing job shows the error path.

    python examples/promises.py [seconds]

``seconds`` is how long the job sleeps (3 by default); the delay fires
after a third of it.
"""

from __future__ import annotations

import sys
import time

import gnotifier


def main(seconds: float) -> None:
    def slow_sum() -> int:
        time.sleep(seconds)
        return 4 + 5

    (
        gnotifier.work(slow_sum)
        .then(lambda val: print(f"got val: {val}"))
        .then(lambda _: gnotifier.work(lambda: 1 / 0))
        .catch(lambda exc: print(f"caught: {exc!r}"), ZeroDivisionError)
    )
    gnotifier.delay(seconds / 3, lambda: print("event loop still running..."))


if __name__ == "__main__":
    gnotifier.run(main, float(sys.argv[1]) if len(sys.argv) > 1 else 3.0)
