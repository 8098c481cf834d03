"""Server-sent events fed by a thread gevent knows nothing about.

A "sensor" thread (standing in for a C library's callback thread or a
hardware poller) produces readings on its own schedule and hands each one to
the hub with ``gnotifier.call_soon_threadsafe``. In the hub, the reading is
put on every subscriber's queue; each ``/events`` response is a greenlet
streaming its queue to the browser::

    python examples/sse_threads.py            # then open http://127.0.0.1:8000/events
    python examples/sse_threads.py --port 0 --count 5   # print the port, stop after 5 readings

Nothing here touches the hub from the sensor thread except
``call_soon_threadsafe``, which is safe from any thread.
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402  (after patching, as gevent asks)
import json  # noqa: E402
import math  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from typing import Callable, Iterator, List  # noqa: E402

import gevent  # noqa: E402
from gevent.pywsgi import WSGIServer  # noqa: E402
from gevent.queue import Queue  # noqa: E402

import gnotifier  # noqa: E402

subscribers: List["Queue[str]"] = []  # hub thread only


def publish(reading: dict) -> None:
    """Hub thread: fan one reading out to every open stream."""
    event = f"data: {json.dumps(reading)}\n\n"
    for queue in subscribers:
        queue.put(event)


def sensor(hub: gevent.hub.Hub, stop: threading.Event, period: float, count: int) -> None:
    """A real OS thread (gnotifier.start_thread): blocking reads, no gevent."""
    for n in range(count):
        if stop.wait(period):
            return
        reading = {"n": n, "value": round(math.sin(n / 5), 3), "at": time.time()}
        gnotifier.call_soon_threadsafe(publish, reading, hub=hub)
    gnotifier.call_soon_threadsafe(publish, {"done": True}, hub=hub)


def app(environ: dict, start_response: Callable[..., object]) -> Iterator[bytes]:
    if environ.get("PATH_INFO") != "/events":
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        yield b"the stream is at /events\n"
        return
    start_response("200 OK", [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")])
    queue: Queue[str] = Queue()
    subscribers.append(queue)
    try:
        for event in queue:
            yield event.encode()
            if '"done": true' in event:
                return
    finally:
        subscribers.remove(queue)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port (printed)")
    parser.add_argument("--period", type=float, default=0.5, help="seconds between readings")
    parser.add_argument("--count", type=int, default=1_000_000, help="readings before the sensor stops")
    args = parser.parse_args()
    server = WSGIServer(("127.0.0.1", args.port), app, log=None)
    server.start()
    print(f"http://127.0.0.1:{server.server_port}/events", flush=True)
    stop = threading.Event()
    gnotifier.start_thread(sensor, gevent.get_hub(), stop, args.period, args.count, name="sensor")
    try:
        server.serve_forever()
    finally:
        stop.set()


if __name__ == "__main__":
    main()
