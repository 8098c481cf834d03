"""The load and the ``/ping`` timer.

The load generator is a process of its own, started by the runner once per
(kind, mode): ``python -m gnotifier._demo._load PORT PATH WARM SECONDS CLIENTS``.
Its CLIENTS plain threads each GET PATH back to back on a keep-alive
``http.client`` connection. It prints ``go`` once they run, counts the
answers that arrive in the SECONDS after WARM, waits for the answers still
on their way, and prints one JSON line: ``{"requests": n, "seconds": s,
"failed": f}`` (failed: in the whole run, warm-up included).

``ping`` runs in the runner's main thread meanwhile, so that no load thread
competes with it for the GIL.
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time
from typing import Sequence

from .. import _client

TIMEOUT = 30.0  # seconds for one answer


def connect(port: int) -> http.client.HTTPConnection:
    return _client.connect(port, TIMEOUT)


get = _client.get


class _Client(threading.Thread):
    def __init__(self, port: int, path: str, stop: threading.Event) -> None:
        super().__init__(name="demo-client", daemon=True)
        self.port, self.path, self.stop = port, path, stop
        self.answers = self.failed = 0  # this thread's alone

    def run(self) -> None:
        connection: http.client.HTTPConnection | None = None
        while not self.stop.is_set():
            try:
                if connection is None:
                    connection = connect(self.port)
                get(connection, self.path)
                self.answers += 1
            except (OSError, http.client.HTTPException):
                self.failed += 1
                if connection is not None:
                    connection.close()
                connection = None
                self.stop.wait(0.01)
        if connection is not None:
            connection.close()


def main(argv: Sequence[str]) -> int:
    port, path, warm, seconds, clients = int(argv[0]), argv[1], float(argv[2]), float(argv[3]), int(argv[4])
    stop = threading.Event()
    threads = [_Client(port, path, stop) for _ in range(clients)]
    for thread in threads:
        thread.start()
    print("go", flush=True)
    time.sleep(warm)
    before, start = sum(thread.answers for thread in threads), time.perf_counter()
    time.sleep(seconds)
    after, elapsed = sum(thread.answers for thread in threads), time.perf_counter() - start
    stop.set()
    for thread in threads:  # each finishes the request it has on its way
        thread.join(TIMEOUT + 5)
    failed = sum(thread.failed for thread in threads) + sum(thread.is_alive() for thread in threads)
    print(json.dumps({"requests": after - before, "seconds": elapsed, "failed": failed}), flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
