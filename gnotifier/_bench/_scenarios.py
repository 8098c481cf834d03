"""Scenarios A to F: one function per (scenario, implementation), by ``MEASURES``.

Each runs in a child process (``_child``), in its main thread; the gevent
ones in the main greenlet, which waits in the hub while worker threads, a
foreign thread or worker processes do their part. Nothing is monkey-patched,
so ``threading`` is native throughout; the floor and asyncio implementations
never start a gevent hub. Each function warms up first, then times with
``time.perf_counter_ns`` and returns its metrics (units in ``_spec.UNITS``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import gc
import importlib
import multiprocessing
import os
import threading
import time
from collections import deque
from time import perf_counter_ns
from typing import Any, Callable, Deque, Dict, List, Protocol, Sequence, Tuple

import gevent
import gevent.event
import gevent.exceptions
import gevent.select
import gevent.threadpool

import gnotifier

from ._jobs import burn, digest, loops_for, one, spin

Metrics = Dict[str, float]
Measure = Callable[[bool], Metrics]  # quick -> metrics

TICK = 0.005  # seconds between heartbeats (E, E2)
GAP = 200e-6  # seconds between wake-up samples (C)


class _Waitable(Protocol):
    def get(self) -> Any: ...


def _count(full: int, quick: bool) -> int:
    """``full``, or about a hundredth of it for a smoke run."""
    return max(1, full // 100) if quick else full


def _nothing() -> None:
    pass


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (nearest rank) of ``values``; 0.0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


# -- A: round trip ------------------------------------------------------------


def _round_trips(step: Callable[[], object], n: int) -> Metrics:
    for _ in range(max(1, n // 10)):
        step()
    start = perf_counter_ns()
    for _ in range(n):
        step()
    return {"round trip": (perf_counter_ns() - start) / n / 1e3}


def a_gnotifier(quick: bool) -> Metrics:
    work = gnotifier.work
    return _round_trips(lambda: work(one).get(), _count(20_000, quick))


def a_gevent(quick: bool) -> Metrics:
    threadpool = gevent.get_hub().threadpool
    return _round_trips(lambda: threadpool.spawn(one).get(), _count(20_000, quick))


def a_floor(quick: bool) -> Metrics:
    with concurrent.futures.ThreadPoolExecutor(4) as executor:
        return _round_trips(lambda: executor.submit(one).result(), _count(20_000, quick))


def a_wakeups(quick: bool) -> Metrics:
    """The reference: two plain threads hand a native lock back and forth.

    No event loop and no work: what remains is the two thread wake-ups (and
    GIL hand-overs) that every round trip to a worker and back pays.
    """
    there, back = threading.Lock(), threading.Lock()
    there.acquire()
    back.acquire()
    n = _count(20_000, quick)
    warm = max(1, n // 10)

    def worker() -> None:
        for _ in range(warm + n):
            there.acquire()
            back.release()

    thread = threading.Thread(target=worker, name="bench-wakeups")
    thread.start()

    def step() -> None:
        there.release()
        back.acquire()

    try:
        return _round_trips(step, n)
    finally:
        thread.join()


def a_asyncio(quick: bool) -> Metrics:
    n = _count(20_000, quick)

    async def main() -> Metrics:
        for _ in range(max(1, n // 10)):
            await asyncio.to_thread(one)
        start = perf_counter_ns()
        for _ in range(n):
            await asyncio.to_thread(one)
        return {"round trip": (perf_counter_ns() - start) / n / 1e3}

    return asyncio.run(main())


def a_trio(quick: bool) -> Metrics:
    trio: Any = importlib.import_module("trio")  # optional: the runner skips this row without it
    n = _count(20_000, quick)

    async def main() -> Metrics:
        for _ in range(max(1, n // 10)):
            await trio.to_thread.run_sync(one)
        start = perf_counter_ns()
        for _ in range(n):
            await trio.to_thread.run_sync(one)
        return {"round trip": (perf_counter_ns() - start) / n / 1e3}

    result: Metrics = trio.run(main)
    return result


# -- B: throughput ------------------------------------------------------------


def _throughput(batch: Callable[[int], None], n: int) -> Metrics:
    """``batch(k)`` submits k jobs at once and waits for them all."""
    batch(max(1, n // 10))
    start = perf_counter_ns()
    batch(n)
    return {"throughput": n / ((perf_counter_ns() - start) / 1e9)}


def b_gnotifier(quick: bool) -> Metrics:
    pool = gnotifier.Pool(size=4)

    def batch(k: int) -> None:
        promises = [pool.work(one) for _ in range(k)]
        for promise in promises:
            promise.get()

    try:
        return _throughput(batch, _count(20_000, quick))
    finally:
        pool.shutdown()


def b_gevent(quick: bool) -> Metrics:
    pool = gevent.threadpool.ThreadPool(4)

    def batch(k: int) -> None:
        results = [pool.spawn(one) for _ in range(k)]
        for result in results:
            result.get()

    try:
        return _throughput(batch, _count(20_000, quick))
    finally:
        pool.kill()


def b_floor(quick: bool) -> Metrics:
    with concurrent.futures.ThreadPoolExecutor(4) as executor:

        def batch(k: int) -> None:
            futures = [executor.submit(one) for _ in range(k)]
            for future in futures:
                future.result()

        return _throughput(batch, _count(20_000, quick))


def b_asyncio(quick: bool) -> Metrics:
    n = _count(20_000, quick)

    async def main() -> Metrics:
        loop = asyncio.get_running_loop()
        with concurrent.futures.ThreadPoolExecutor(4) as executor:

            async def batch(k: int) -> None:
                await asyncio.gather(*[loop.run_in_executor(executor, one) for _ in range(k)])

            await batch(max(1, n // 10))
            start = perf_counter_ns()
            await batch(n)
            return {"throughput": n / ((perf_counter_ns() - start) / 1e9)}

    return asyncio.run(main())


# -- C: wake-up -----------------------------------------------------------------

#: arm(callback), in the hub's thread -> (trigger, disarm); any thread may trigger.
Arm = Callable[[Callable[[], None]], Tuple[Callable[[], None], Callable[[], None]]]


def _wake_ups(n: int, arm: Arm) -> Metrics:
    """A foreign thread triggers ``n`` times, ~200 us apart, each time waiting for the callback."""
    warm = max(1, n // 10)
    sent = [0]  # perf_counter_ns() just before the trigger; 0 once the callback took it
    over = [False]
    samples: List[int] = []
    seen = threading.Event()
    finished = gevent.event.Event()

    def callback() -> None:  # the hub's thread
        now = perf_counter_ns()
        if sent[0]:
            samples.append(now - sent[0])
            sent[0] = 0
            seen.set()
        if over[0]:
            finished.set()

    trigger, disarm = arm(callback)

    def foreign() -> None:
        for _ in range(warm + n):
            seen.clear()
            sent[0] = perf_counter_ns()
            trigger()
            seen.wait(1.0)
            time.sleep(GAP)
        over[0] = True
        trigger()

    thread = threading.Thread(target=foreign, name="bench-trigger")
    thread.start()
    try:
        finished.wait(timeout=30 + (warm + n) * 0.01)
    finally:
        thread.join()
        disarm()
    return {"wake-up": percentile(samples[warm:], 50) / 1e3}


def c_gnotifier(quick: bool) -> Metrics:
    def arm(callback: Callable[[], None]) -> Tuple[Callable[[], None], Callable[[], None]]:
        notifier = gnotifier.Notifier(callback, single_shot=False)
        return notifier.trigger, notifier.free

    return _wake_ups(_count(5_000, quick), arm)


def c_raw(quick: bool) -> Metrics:
    def arm(callback: Callable[[], None]) -> Tuple[Callable[[], None], Callable[[], None]]:
        watcher = gevent.get_hub().loop.async_()
        watcher.start(callback)

        def disarm() -> None:
            watcher.stop()
            watcher.close()

        return watcher.send, disarm

    return _wake_ups(_count(5_000, quick), arm)


def c_deque(quick: bool) -> Metrics:
    """The reference: calls appended to a deque, drained by one async_ watcher in the hub.

    The least a shared hand-off does beyond a bare ``send()``: the thread
    appends, sends unless a send is on its way, and the hub pops and calls.
    """

    def arm(callback: Callable[[], None]) -> Tuple[Callable[[], None], Callable[[], None]]:
        calls: Deque[Callable[[], None]] = deque()
        pending = [False]
        watcher = gevent.get_hub().loop.async_()

        def drain() -> None:  # the hub's thread
            pending[0] = False
            popleft = calls.popleft
            while calls:
                popleft()()

        watcher.start(drain)

        def trigger() -> None:
            calls.append(callback)
            if not pending[0]:
                pending[0] = True
                watcher.send()

        def disarm() -> None:
            watcher.stop()
            watcher.close()

        return trigger, disarm

    return _wake_ups(_count(5_000, quick), arm)


# -- D: calls from a foreign thread ---------------------------------------------

#: arm(deliver, finish), in the hub's thread -> (flood, disarm); flood(n), in a
#: foreign thread, has the hub run deliver(i) for i in range(n), then finish().
Flood = Callable[[int], None]
FloodArm = Callable[[Callable[[int], object], Callable[[], None]], Tuple[Flood, Callable[[], None]]]


def _call_metrics(values: List[int], n: int, started: int, ended: int) -> Metrics:
    count = len(values)
    if count == n and sum(values) != n * (n - 1) // 2:
        raise RuntimeError("the hub received every call, but not the values sent")
    return {"rate": count / (max(1, ended - started) / 1e9) / 1e6, "lost": float(n - count)}


def _calls_in_hub(n: int, arm: FloodArm) -> Metrics:
    def once(k: int) -> Metrics:
        values: List[int] = []
        started, ended = [0], [0]
        finished = gevent.event.Event()

        def finish() -> None:
            ended[0] = perf_counter_ns()
            finished.set()

        flood, disarm = arm(values.append, finish)

        def foreign() -> None:
            started[0] = perf_counter_ns()
            flood(k)

        # A ref'd timer keeps the loop waiting for the calls: gevent's
        # run_callback_threadsafe() alone would let it exit (LoopExit)
        # before the thread's first call arrives.
        keep_alive = gevent.get_hub().loop.timer(3600.0)
        keep_alive.start(_nothing)
        thread = threading.Thread(target=foreign, name="bench-caller")
        thread.start()
        deadline = time.monotonic() + 60 + k / 10_000
        loop_exits = 0
        try:
            while not finished.is_set() and time.monotonic() < deadline:
                try:
                    finished.wait(timeout=max(0.0, deadline - time.monotonic()))
                except gevent.exceptions.LoopExit:
                    # The loop found nothing to wait for, though our timer
                    # is active: run_callback_threadsafe() counts its call
                    # with ev_ref() in the foreign thread while the loop
                    # runs without the GIL, and the two counts can race.
                    # The hub runs its loop again when we wait again.
                    loop_exits += 1
        finally:
            thread.join()
            disarm()
            keep_alive.stop()
            keep_alive.close()
        metrics = _call_metrics(values, k, started[0], ended[0] or perf_counter_ns())
        metrics["loop exits"] = float(loop_exits)  # the hub's loop found nothing to wait for
        return metrics

    once(max(1, n // 10))
    return once(n)


def d_gnotifier(quick: bool) -> Metrics:
    hub = gevent.get_hub()
    gnotifier.default_pool()  # first contact from the hub's own thread (README: "First contact")
    call = gnotifier.call_soon_threadsafe

    def arm(deliver: Callable[[int], object], finish: Callable[[], None]) -> Tuple[Flood, Callable[[], None]]:
        def flood(n: int) -> None:
            for i in range(n):
                call(deliver, i, hub=hub)
            call(finish, hub=hub)

        return flood, _nothing

    return _calls_in_hub(_count(1_000_000, quick), arm)


def d_gevent(quick: bool) -> Metrics:
    call = gevent.get_hub().loop.run_callback_threadsafe

    def arm(deliver: Callable[[int], object], finish: Callable[[], None]) -> Tuple[Flood, Callable[[], None]]:
        def flood(n: int) -> None:
            for i in range(n):
                call(deliver, i)
            call(finish)

        return flood, _nothing

    return _calls_in_hub(_count(1_000_000, quick), arm)


def d_raw(quick: bool) -> Metrics:
    """The reference: a deque the thread appends to, drained by one async_ watcher in the hub."""
    loop = gevent.get_hub().loop

    def arm(deliver: Callable[[int], object], finish: Callable[[], None]) -> Tuple[Flood, Callable[[], None]]:
        queue: Deque[int] = deque()
        over = [False]
        watcher = loop.async_()

        def drain() -> None:  # the hub's thread
            done = over[0]  # read first: every value was queued before it was set
            popleft = queue.popleft
            while queue:
                deliver(popleft())
            if done:
                finish()

        watcher.start(drain)

        def flood(n: int) -> None:
            append, send = queue.append, watcher.send
            for i in range(n):
                append(i)
                send()
            over[0] = True
            send()

        def disarm() -> None:
            watcher.stop()
            watcher.close()

        return flood, disarm

    return _calls_in_hub(_count(1_000_000, quick), arm)


def d_asyncio(quick: bool) -> Metrics:
    n = _count(1_000_000, quick)

    async def main() -> Metrics:
        loop = asyncio.get_running_loop()
        call = loop.call_soon_threadsafe

        async def once(k: int) -> Metrics:
            values: List[int] = []
            started, ended = [0], [0]
            finished = loop.create_future()

            def finish() -> None:
                ended[0] = perf_counter_ns()
                finished.set_result(None)

            def foreign() -> None:
                started[0] = perf_counter_ns()
                deliver = values.append
                for i in range(k):
                    call(deliver, i)
                call(finish)

            thread = threading.Thread(target=foreign, name="bench-caller")
            thread.start()
            try:
                await asyncio.wait({finished}, timeout=60 + k / 10_000)
            finally:
                thread.join()
            return _call_metrics(values, k, started[0], ended[0] or perf_counter_ns())

        await once(max(1, n // 10))
        return await once(n)

    return asyncio.run(main())


# -- E, E2: the hub's heartbeat while jobs run offloaded ------------------------


def _heartbeat(run: Callable[[], None]) -> Metrics:
    """Call ``run()`` in this greenlet while another ticks every 5 ms; p99 lateness and run's wall time."""
    lags: List[float] = []
    stopped = [False]

    def beat() -> None:
        due = time.perf_counter() + TICK
        while not stopped[0]:
            gevent.sleep(max(0.0, due - time.perf_counter()))
            now = time.perf_counter()
            lags.append(max(0.0, now - due))
            due = now + TICK

    ticker = gevent.spawn(beat)
    gevent.sleep(2 * TICK)  # ticking before the jobs go
    del lags[:]
    start = perf_counter_ns()
    run()
    wall = (perf_counter_ns() - start) / 1e6
    stopped[0] = True
    ticker.join()
    return {"p99 lag": percentile(lags, 99) * 1e3, "wall": wall}


def _sleeps_and_hashes(submit: Callable[[Callable[[Any], object], Any], _Waitable], quick: bool) -> Metrics:
    seconds = 0.2 / 100 if quick else 0.2
    size = _count(64 << 20, quick)
    data, warm_data = bytes(size), bytes(size // 10)  # made before anything is timed

    def jobs(pause: float, block: bytes) -> None:
        waiting = [submit(time.sleep, pause) for _ in range(8)] + [submit(digest, block) for _ in range(8)]
        for job in waiting:
            job.get()

    jobs(seconds / 10, warm_data)
    return _heartbeat(lambda: jobs(seconds, data))


def e_gnotifier(quick: bool) -> Metrics:
    return _sleeps_and_hashes(lambda fn, arg: gnotifier.work(fn, arg), quick)


def e_gevent(quick: bool) -> Metrics:
    threadpool = gevent.get_hub().threadpool
    return _sleeps_and_hashes(lambda fn, arg: threadpool.spawn(fn, arg), quick)


def _cpu_jobs(submit: Callable[[int], _Waitable], quick: bool) -> Metrics:
    loops = loops_for(0.2 / 100 if quick else 0.2)

    def jobs(each: int) -> None:
        waiting = [submit(each) for _ in range(8)]
        for job in waiting:
            job.get()

    jobs(max(1, loops // 100))  # warm-up: threads or worker processes up
    return _heartbeat(lambda: jobs(loops))


def _in_processes(executor: concurrent.futures.Executor, quick: bool) -> Metrics:
    with executor:
        pool = gnotifier.Pool(executor=executor)
        try:
            return _cpu_jobs(lambda loops: pool.work(spin, loops), quick)
        finally:
            pool.shutdown()


def e2_process(quick: bool) -> Metrics:
    """gnotifier's process executor: its workers give the CPU up to the hub when it wakes."""
    context = multiprocessing.get_context("spawn")  # no fork of a process with a hub and threads
    return _in_processes(gnotifier.ProcessPoolExecutor(2, mp_context=context), quick)


def e2_stdlib(quick: bool) -> Metrics:
    """The standard process executor: workers at the hub's own priority."""
    context = multiprocessing.get_context("spawn")
    return _in_processes(concurrent.futures.ProcessPoolExecutor(2, mp_context=context), quick)


def e2_threads(quick: bool) -> Metrics:
    return _cpu_jobs(lambda loops: gnotifier.work(spin, loops), quick)


def e2_floor(quick: bool) -> Metrics:
    """The reference: the same work in two plain processes, with the least hand-off.

    They run at the priority of the process row's workers, and tell the hub
    of each finished job with a byte on a pipe. The hub's lag here is what
    two cores busy with such processes, and eight results coming back, cost
    it on this machine now: the least any offloading to them can give.
    """
    context = multiprocessing.get_context("spawn")
    loops = loops_for(0.2 / 100 if quick else 0.2)
    ready, go = context.Semaphore(0), context.Event()
    nice = gnotifier.ProcessPoolExecutor.nice  # the class's default: what e2_process's workers take
    pipes = [context.Pipe(duplex=False) for _ in range(2)]
    workers = [context.Process(target=burn, args=(ready, go, loops, 4, nice, done)) for _, done in pipes]
    for worker in workers:
        worker.start()
    try:
        for _ in workers:  # the warm-up: both processes up, before anything is timed
            if not ready.acquire(timeout=60):
                raise RuntimeError("a worker process did not start within 60 s")

        def run() -> None:
            go.set()
            waiting = {results: 4 for results, _ in pipes}  # jobs each worker has still to report
            while waiting:  # the hub waits on the pipes, as on any fd
                readable = gevent.select.select(list(waiting), [], [], 120)[0]
                if not readable:
                    raise RuntimeError("a worker process did not finish a job within 120 s")
                for results in readable:
                    results.recv_bytes()
                    waiting[results] -= 1
                    if not waiting[results]:
                        del waiting[results]

        return _heartbeat(run)
    finally:
        go.set()
        for worker in workers:
            worker.join()


# -- F: memory ------------------------------------------------------------------


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
        return trim
    except (OSError, AttributeError):
        return None  # not glibc


_MALLOC_TRIM = _malloc_trim()


def rss_bytes() -> int:
    """This process's resident set, after a collection and handing free heap back to the OS."""
    gc.collect()
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource  # the peak, not the current size: growth still shows

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _per_pending(
    submit: Callable[[Callable[[], object]], _Waitable], queue: Callable[[int], Callable[[], None]], n: int
) -> Metrics:
    """Bytes per job queued behind a pool's single thread, blocked meanwhile.

    ``submit(fn)`` runs one job on the pool; ``queue(k)`` leaves k jobs
    pending there and returns what waits for them all.
    """
    for job in [submit(one) for _ in range(100)]:  # warm-up: the thread up, the code paths run
        job.get()
    gate, running = threading.Event(), threading.Event()

    def block() -> None:
        running.set()
        gate.wait(300)

    blocker = submit(block)
    while not running.is_set():
        gevent.sleep(0.001)
    before = rss_bytes()
    wait_for_all = queue(n)
    after = rss_bytes()
    gate.set()
    blocker.get()
    wait_for_all()
    return {"per pending job": (after - before) / n}


def f_gnotifier(quick: bool) -> Metrics:
    pool = gnotifier.Pool(size=1)

    def queue(k: int) -> Callable[[], None]:
        pending = [pool.work(one) for _ in range(k)]

        def wait_for_all() -> None:
            for promise in pending:
                promise.get()

        return wait_for_all

    try:
        return _per_pending(lambda fn: pool.work(fn), queue, _count(100_000, quick))
    finally:
        pool.shutdown()


def f_gevent(quick: bool) -> Metrics:
    """gevent's ``spawn()`` waits while its pool is busy: a pending job is a greenlet waiting in it."""
    pool = gevent.threadpool.ThreadPool(1)

    def queue(k: int) -> Callable[[], None]:
        entered = [0]

        def job() -> None:
            entered[0] += 1
            pool.spawn(one).get()

        greenlets = [gevent.spawn(job) for _ in range(k)]
        while entered[0] < k:  # every greenlet in spawn(): all but one wait there
            gevent.sleep(0.001)

        def wait_for_all() -> None:
            gevent.joinall(greenlets, raise_error=True)

        return wait_for_all

    try:
        return _per_pending(lambda fn: pool.spawn(fn), queue, _count(100_000, quick))
    finally:
        pool.kill()


def f_growth(quick: bool) -> Metrics:
    """RSS growth over 1M ``work()`` jobs in batches of 10k, from the lowest sample."""
    batch, work = _count(10_000, quick), gnotifier.work

    def run_batch() -> None:
        promises = [work(one) for _ in range(batch)]
        for promise in promises:
            promise.get()

    for _ in range(3):
        run_batch()
    samples = [rss_bytes()]
    for _ in range(100):
        run_batch()
        samples.append(rss_bytes())
    return {"growth": (samples[-1] - min(samples)) / 1e6}


# -- Q and Q2: items between a thread and a greenlet -----------------------------------------------

ITEMS = 1_000_000


def _items_rate(n: int, started: int) -> Metrics:
    return {"items": n / (max(1, perf_counter_ns() - started) / 1e9) / 1e6}


def _to_greenlet(n: int, put: Callable[[int], object], take: Callable[[], int]) -> Metrics:
    # A plain thread puts 0..n-1; this greenlet takes them all and checks the sum.
    keep_alive = gevent.get_hub().loop.timer(3600.0)  # the baselines hold nothing open themselves
    keep_alive.start(_nothing)
    try:
        started = perf_counter_ns()
        thread = threading.Thread(target=lambda: [put(i) for i in range(n)], name="bench-producer")
        thread.start()
        total = taken = loop_exits = 0
        while taken < n:
            try:
                while taken < n:
                    total += take()
                    taken += 1
            except gevent.exceptions.LoopExit:
                loop_exits += 1  # as in _calls_in_hub(): gevent's peer puts through run_callback_threadsafe()
        metrics = _items_rate(n, started)
        metrics["loop exits"] = float(loop_exits)
        thread.join()
    finally:
        keep_alive.stop()
        keep_alive.close()
    if total != n * (n - 1) // 2:
        raise RuntimeError("items were lost or changed on the way")
    return metrics


def q_gnotifier(quick: bool) -> Metrics:
    q: gnotifier.Queue[int] = gnotifier.Queue()
    _to_greenlet(_count(ITEMS, quick) // 10, q.put, q.get)
    return _to_greenlet(_count(ITEMS, quick), q.put, q.get)


def q_polled(quick: bool) -> Metrics:
    """The baseline without a bridge: a stdlib queue.Queue the greenlet polls, sleeping 1 ms when empty."""
    import queue

    q: queue.Queue[int] = queue.Queue()

    def take() -> int:
        while True:
            try:
                return q.get_nowait()
            except queue.Empty:
                gevent.sleep(0.001)

    _to_greenlet(_count(ITEMS, quick) // 10, q.put, take)
    return _to_greenlet(_count(ITEMS, quick), q.put, take)


def q_gevent(quick: bool) -> Metrics:
    """gevent's own way: run_callback_threadsafe(queue.put, item) into a gevent.queue.Queue."""
    import gevent.queue

    q: gevent.queue.Queue[int] = gevent.queue.Queue()
    call = gevent.get_hub().loop.run_callback_threadsafe
    _to_greenlet(_count(ITEMS, quick) // 10, lambda i: call(q.put, i), q.get)
    return _to_greenlet(_count(ITEMS, quick), lambda i: call(q.put, i), q.get)


def _to_thread(n: int, put: Callable[[int], object], take: Callable[[], int]) -> Metrics:
    # This greenlet puts 0..n-1; a plain thread takes them all.
    totals: List[int] = []
    started = perf_counter_ns()
    thread = threading.Thread(target=lambda: totals.append(sum(take() for _ in range(n))), name="bench-consumer")
    thread.start()
    for i in range(n):
        put(i)
    gnotifier.work(thread.join).get()  # the hub keeps serving a bounded queue meanwhile
    metrics = _items_rate(n, started)
    if totals != [n * (n - 1) // 2]:
        raise RuntimeError("items were lost or changed on the way")
    return metrics


def q2_gnotifier(quick: bool) -> Metrics:
    q: gnotifier.Queue[int] = gnotifier.Queue(maxsize=10_000)
    _to_thread(_count(ITEMS, quick) // 10, q.put, q.get)
    return _to_thread(_count(ITEMS, quick), q.put, q.get)


def q2_stdlib(quick: bool) -> Metrics:
    """The baseline: an unbounded stdlib queue.Queue (put never waits, so it never blocks the hub)."""
    import queue

    q: queue.Queue[int] = queue.Queue()
    _to_thread(_count(ITEMS, quick) // 10, q.put, q.get)
    return _to_thread(_count(ITEMS, quick), q.put, q.get)


MEASURES: Dict[Tuple[str, str], Measure] = {
    ("A", "gnotifier"): a_gnotifier,
    ("A", "gevent"): a_gevent,
    ("A", "floor"): a_floor,
    ("A", "asyncio"): a_asyncio,
    ("A", "trio"): a_trio,
    ("A", "wake-ups"): a_wakeups,
    ("B", "gnotifier"): b_gnotifier,
    ("B", "gevent"): b_gevent,
    ("B", "floor"): b_floor,
    ("B", "asyncio"): b_asyncio,
    ("C", "gnotifier"): c_gnotifier,
    ("C", "raw"): c_raw,
    ("C", "deque"): c_deque,
    ("D", "gnotifier"): d_gnotifier,
    ("D", "gevent"): d_gevent,
    ("D", "asyncio"): d_asyncio,
    ("D", "raw"): d_raw,
    ("E", "gnotifier"): e_gnotifier,
    ("E", "gevent"): e_gevent,
    ("E2", "process"): e2_process,
    ("E2", "stdlib"): e2_stdlib,
    ("E2", "threads"): e2_threads,
    ("E2", "floor"): e2_floor,
    ("F", "gnotifier"): f_gnotifier,
    ("F", "gevent"): f_gevent,
    ("F", "gnotifier-1M"): f_growth,
    ("Q", "gnotifier"): q_gnotifier,
    ("Q", "polled"): q_polled,
    ("Q", "gevent"): q_gevent,
    ("Q2", "gnotifier"): q2_gnotifier,
    ("Q2", "stdlib"): q2_stdlib,
}
