"""The demo's WSGI app, run by the patched server process (``_server``), one greenlet per request.

- ``/work/<kind>?mode=<mode>``: run a job of ``_work.KINDS`` in the request's
  greenlet (``inline``: the hub waits), with ``gnotifier.work()`` on the hub's
  threadpool (``work``), on a ``Pool(size=CPUS)`` (``pool``) or on a
  ``Pool(executor=gnotifier.ProcessPoolExecutor(CPUS))`` (``process``, cpu only).
- ``/ping``: answers at once.
- ``/``: the live page (``_page``); ``/events``: its server-sent events.

Every ``SAMPLE_PERIOD`` a sampler thread (``gnotifier.start_thread``) hands
its clock into the hub with ``call_soon_threadsafe``. There the callback
measures how late it runs (the hub's lag), reads the pools' ``stats()`` and
``hub_stats()`` (which belong to the hub's thread) and queues the sample for
every ``/events`` client. A sample is one JSON object::

    {"time": unix seconds, "lag_ms": float, "hub": HubStats,
     "pools": {"work": PoolStats, "pool": PoolStats, "process": PoolStats}}
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import time
import urllib.parse
from typing import Any, Callable, Dict, Iterable, Iterator, List, Set

import gevent.queue
from gevent import monkey

import gnotifier

from . import _page, _work

SAMPLE_PERIOD = 0.1  # seconds between samples
BACKLOG = 100  # samples queued for a slow /events client before it misses some

_blocking_sleep: Callable[[float], None] = monkey.get_original("time", "sleep")
_counter = itertools.count()
_pools: Dict[str, gnotifier.Pool] = {}
_executor: List[gnotifier.ProcessPoolExecutor] = []
_subscribers: Set[gevent.queue.Queue[bytes]] = set()
_sampling: List[bool] = []  # non-empty while the sampler should run
_sampler: List[gnotifier.Thread] = []


# -- pools and the sampler: set up and torn down in the hub's thread ------------------


def start() -> None:
    """Make the pools (and start their workers), then the sampler thread."""
    _work.prepare()
    # spawn, not fork: the server has a hub and threads by now.
    executor = gnotifier.ProcessPoolExecutor(_work.CPUS, mp_context=multiprocessing.get_context("spawn"))
    _executor.append(executor)
    _pools.update(
        work=gnotifier.default_pool(),
        pool=gnotifier.Pool(size=_work.CPUS, name="demo"),
        process=gnotifier.Pool(executor=executor),
    )
    for pool in _pools.values():  # warm up: worker threads and processes up before the first request
        pool.map(_work.spin, [0] * _work.CPUS).get()
    _sampling.append(True)
    _sampler.append(gnotifier.start_thread(_sample_forever, gevent.get_hub(), name="demo-sampler"))


def stop() -> None:
    """Stop the sampler, then the pools and the worker processes."""
    _sampling.clear()
    for thread in _sampler:
        thread.join(1.0)
    for pool in _pools.values():
        pool.shutdown(wait=False, cancel_pending=True)
    for executor in _executor:
        executor.shutdown(wait=True, cancel_futures=True)


def _sample_forever(hub: Any) -> None:
    # The sampler's own OS thread: it never touches the hub's state, it only calls into it.
    while _sampling:
        _blocking_sleep(SAMPLE_PERIOD)
        gnotifier.call_soon_threadsafe(_publish, time.perf_counter(), hub=hub)


def _publish(sent: float) -> None:
    # In the hub: how late did this call run?
    sample = {
        "time": time.time(),
        "lag_ms": (time.perf_counter() - sent) * 1e3,
        "hub": gnotifier.hub_stats(),
        "pools": {name: pool.stats() for name, pool in _pools.items()},
    }
    event = b"data: " + json.dumps(sample).encode() + b"\n\n"
    for queue in _subscribers:
        if queue.qsize() < BACKLOG:
            queue.put_nowait(event)


def _events() -> Iterator[bytes]:
    # One per /events client: a generator the client's greenlet iterates, waiting on its queue.
    queue: gevent.queue.Queue[bytes] = gevent.queue.Queue()
    _subscribers.add(queue)
    try:
        yield b"retry: 1000\n\n"  # sends the headers at once
        while True:
            yield queue.get()
    finally:
        _subscribers.discard(queue)


# -- the requests ------------------------------------------------------------------------


def run_job(kind: str, mode: str) -> str:
    """Run one job of ``kind`` in ``mode``, in the request's greenlet; its result."""
    fn = _work.KINDS[kind][0]
    counter = next(_counter)
    if mode == "inline":
        return fn(counter)  # the hub waits: nobody else is served meanwhile
    return _pools[mode].work(fn, counter).get()  # only this greenlet waits


def _reply(start_response: Callable[..., Any], status: str, body: bytes, kind: str = "text/plain") -> List[bytes]:
    start_response(status, [("Content-Type", f"{kind}; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]


def app(environ: Dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    path: str = environ["PATH_INFO"]
    if path == "/ping":
        return _reply(start_response, "200 OK", b"pong")
    if path.startswith("/work/"):
        kind = path[len("/work/") :]
        mode = urllib.parse.parse_qs(environ.get("QUERY_STRING", "")).get("mode", ["work"])[0]
        if kind not in _work.KINDS:
            return _reply(start_response, "404 Not Found", f"kinds: {', '.join(_work.KINDS)}\n".encode())
        if mode not in _work.modes(kind):
            allowed = ", ".join(_work.modes(kind))
            return _reply(start_response, "400 Bad Request", f"{kind} runs in these modes: {allowed}\n".encode())
        return _reply(start_response, "200 OK", run_job(kind, mode).encode() + b"\n")
    if path == "/":
        return _reply(start_response, "200 OK", _page.render().encode(), "text/html")
    if path == "/events":
        headers = [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")]
        start_response("200 OK", headers)
        return _events()
    return _reply(start_response, "404 Not Found", b"try /, /ping or /work/<kind>?mode=<mode>\n")
