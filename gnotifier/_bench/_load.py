"""The load generator of scenario S: ``python -m gnotifier._bench._load PORT WARM SECONDS CONNECTIONS``.

A process of its own, started by the S child (``_server``). Its plain
threads, one keep-alive ``http.client`` connection each, GET ``/hash`` back to
back. It prints ``go`` once they run, counts the answers that arrive in the
SECONDS after WARM seconds, then prints one JSON line:
``{"requests": n, "seconds": s, "errors": e}``.
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time
from typing import List, Sequence

from .. import _client

TIMEOUT = 60.0  # seconds for one answer


def connect(port: int) -> http.client.HTTPConnection:
    return _client.connect(port, TIMEOUT)


get = _client.get


def _hammer(port: int, slot: int, answers: List[int], errors: List[int], stop: threading.Event) -> None:
    connection: http.client.HTTPConnection | None = None
    while not stop.is_set():
        try:
            if connection is None:
                connection = connect(port)
            get(connection, "/hash")
            answers[slot] += 1  # this slot is this thread's alone
        except (OSError, http.client.HTTPException):
            errors[slot] += 1
            if connection is not None:
                connection.close()
            connection = None
            time.sleep(0.01)
    if connection is not None:
        connection.close()


def main(argv: Sequence[str]) -> int:
    port, warm, seconds, connections = int(argv[0]), float(argv[1]), float(argv[2]), int(argv[3])
    answers, errors = [0] * connections, [0] * connections
    stop = threading.Event()
    threads = [
        threading.Thread(target=_hammer, args=(port, slot, answers, errors, stop), daemon=True)
        for slot in range(connections)
    ]
    for thread in threads:
        thread.start()
    print("go", flush=True)
    time.sleep(warm)
    before, start = sum(answers), time.perf_counter()
    time.sleep(seconds)
    after, elapsed = sum(answers), time.perf_counter() - start
    stop.set()
    deadline = time.monotonic() + 5  # then leave the rest to exit: the threads are daemons
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    print(json.dumps({"requests": after - before, "seconds": elapsed, "errors": sum(errors)}), flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:  # stopped by the S child
        sys.exit(130)
