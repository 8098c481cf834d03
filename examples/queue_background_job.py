"""cl-async's "queue a background job" example, on gevent.

A notifier is made in the hub. A real OS thread sleeps, stores 42 and
triggers the notifier; the callback then prints the result in the hub's
thread. ``gnotifier.run`` returns once the notifier has fired and the
thread has finished (cl-async's ``with-event-loop``).

    python examples/queue_background_job.py [seconds]
"""

from __future__ import annotations

import sys
import threading
import time

import gnotifier


def main(seconds: float) -> None:
    result = None

    def job_finished() -> None:
        print(f"Job finished! {result}")
        print(f"(the callback ran in the {threading.current_thread().name})")

    notifier = gnotifier.make_notifier(job_finished)

    def background_job() -> None:
        nonlocal result
        time.sleep(seconds)
        result = 42
        notifier.trigger()

    gnotifier.start_thread(background_job)


if __name__ == "__main__":
    gnotifier.run(main, float(sys.argv[1]) if len(sys.argv) > 1 else 3.0)
