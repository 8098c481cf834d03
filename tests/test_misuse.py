"""Misuse: bad input is refused at the call site, with a helpful message, and nothing runs.

A bad-input table over the public API. Each case asserts the exact
exception type the call raises, that its message says what was wrong (the
parameter's name, or what to use instead), and that nothing was queued,
scheduled or run: no callback, no job, no "coroutine was never awaited".
Every case is bounded by timeouts, so a call that wrongly waits fails in
seconds instead of hanging the run. Also: the timeouts' own types, keyword
arguments reaching jobs, self-resolution, gevent's executor futures, and
the warning a program that forgets ``gnotifier.run(main)`` gets.
"""

from __future__ import annotations

import builtins
import gc
import math
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from typing import Any, Callable, Iterator

import gevent
import gevent.threadpool
import pytest
from gevent._hub_local import get_hub_if_exists
from helpers import Boom, run_in_a_thread_without_a_hub, wait_until

import gnotifier
from gnotifier import Pool, Promise

pytestmark = pytest.mark.timeout(30)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


async def coroutine_function(*args: Any) -> None:
    """An ``async def``: calling it makes a coroutine that must be awaited."""


async def async_generator_function(*args: Any) -> Any:
    """An async generator function."""
    yield args


# -- helpers --------------------------------------------------------------------------


def refusal(call: Callable[[], Any]) -> BaseException | None:
    """What ``call()`` raised, or None; whatever it wrongly accepted is undone."""
    try:
        accepted = call()
    except (Exception, gevent.Timeout) as exc:
        return exc
    dispose(accepted)
    return None


def dispose(accepted: Any) -> None:
    """Undo what a call that should have been refused made, so nothing lingers."""
    if isinstance(accepted, gnotifier.Notifier):
        accepted.free()
    elif isinstance(accepted, gnotifier.Timer):
        accepted.cancel()
    elif isinstance(accepted, gnotifier.Thread):
        accepted.join(5)
    elif isinstance(accepted, Pool):
        accepted.shutdown(cancel_pending=True, timeout=5)
    elif isinstance(accepted, Promise):
        accepted.wait(2)
        dispose(accepted.value)
        accepted.exception  # observed: not reported at collection
    elif hasattr(accepted, "close") and hasattr(accepted, "cr_frame"):
        accepted.close()  # a coroutine: closing it silences "never awaited"


def assert_refused(error: BaseException | None, expected: type[BaseException], *hints: str) -> None:
    """``error`` is exactly ``expected``, with a message that mentions one of ``hints``."""
    assert error is not None, f"no {expected.__name__} was raised"
    assert type(error) is expected, f"expected {expected.__name__}, got {type(error).__name__}: {error}"
    message = str(error)
    assert message.strip(), f"{expected.__name__} without a message"
    assert any(hint.lower() in message.lower() for hint in hints), f"message mentions none of {hints}: {message!r}"


def raises_in_a_thread(fn: Callable[[], Any], timeout: float = 3.0) -> BaseException | None:
    """Run ``fn()`` in a plain OS thread; return what it raised, or None.

    The hub does not run meanwhile. A thread still blocked after ``timeout``
    (waiting for the hub) fails the test once the hub has let it go. A hub
    that ``fn`` made in the thread is destroyed there.
    """
    box: list[BaseException] = []

    def main() -> None:
        try:
            fn()
        except BaseException as exc:
            box.append(exc)
        finally:
            hub = get_hub_if_exists()
            if hub is not None:
                hub.destroy(destroy_loop=True)

    thread = threading.Thread(target=main, name="misuse-foreign", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        wait_until(lambda: not thread.is_alive(), what="the blocked foreign thread")
        pytest.fail(f"the foreign thread was still blocked after {timeout} s")
    return box[0] if box else None


def call_in_hub_from_a_thread(fn: Any, *, timeout: Any = 1.0, hub: Any = None) -> None:
    """``call_in_hub(fn, timeout=, hub=)`` from a plain thread, re-raised here."""
    hub = gevent.get_hub() if hub is None else hub
    error = raises_in_a_thread(lambda: gnotifier.call_in_hub(fn, timeout=timeout, hub=hub))
    if error is not None:
        raise error


def run_script(source: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    """Run ``source`` in a fresh interpreter (the working tree's gnotifier)."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(source)],
        cwd=REPO,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def observed_rejection() -> Promise[Any]:
    promise = Promise.rejected(Boom("rejected"))
    promise.exception  # observed: nobody needs to hear of it
    return promise


@pytest.fixture
def pool() -> Iterator[Pool]:
    """A pool of the main thread's hub, shut down afterwards."""
    own = Pool(size=1, name="misuse")
    yield own
    own.shutdown(timeout=5)


# -- 1 and 3: every callable parameter refuses non-callables and async functions ----------

CALLABLE_SITES: dict[str, Callable[[Any], Any]] = {
    "work": lambda fn: gnotifier.work(fn),
    "Pool.work": lambda fn: gnotifier.default_pool().work(fn),
    "Pool.map": lambda fn: gnotifier.default_pool().map(fn, [1]),
    "call_soon_threadsafe": lambda fn: gnotifier.call_soon_threadsafe(fn),
    "call_in_hub": call_in_hub_from_a_thread,
    "start_thread": lambda fn: gnotifier.start_thread(fn),
    "Notifier": lambda fn: gnotifier.Notifier(fn),
    "make_notifier": lambda fn: gnotifier.make_notifier(fn),
    "Notifier-on_error": lambda fn: gnotifier.Notifier(print, on_error=fn),
    "make_notifier-on_error": lambda fn: gnotifier.make_notifier(print, on_error=fn),
    "delay": lambda fn: gnotifier.delay(0, fn),
    "interval": lambda fn: gnotifier.interval(1, fn),
    "run": lambda fn: gnotifier.run(fn),
    "then-on_value": lambda fn: Promise.resolved(1).then(fn),
    "then-on_error": lambda fn: observed_rejection().then(None, fn),
    "catch": lambda fn: observed_rejection().catch(fn),
    "finally_": lambda fn: Promise.resolved(1).finally_(fn),
    "tap": lambda fn: Promise.resolved(1).tap(fn),
    "amap": lambda fn: gnotifier.amap(fn, [1]),
    "areduce": lambda fn: gnotifier.areduce(fn, [1], 0),
    "afilter": lambda fn: gnotifier.afilter(fn, [1]),
    "aeach": lambda fn: gnotifier.aeach(fn, [1]),
}

NOT_CALLABLE = {"int": 42, "str": "print"}


class _AsyncCallable:
    async def __call__(self, *args: Any) -> None:
        """Calling the object makes a coroutine, as calling a coroutine function does."""


ASYNC_FUNCTIONS = {
    "coroutine-function": coroutine_function,
    "async-generator-function": async_generator_function,
    "object-with-async-call": _AsyncCallable(),
}


@pytest.mark.parametrize("bad", list(NOT_CALLABLE.values()), ids=list(NOT_CALLABLE))
@pytest.mark.parametrize("site", list(CALLABLE_SITES), ids=str)
def test_non_callable_is_refused_with_type_error(site: str, bad: Any) -> None:
    assert_refused(refusal(lambda: CALLABLE_SITES[site](bad)), TypeError, "callable")


@pytest.mark.parametrize("fn", list(ASYNC_FUNCTIONS.values()), ids=list(ASYNC_FUNCTIONS))
@pytest.mark.parametrize("site", list(CALLABLE_SITES), ids=str)
def test_async_function_is_refused_with_type_error_and_never_called(site: str, fn: Any) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        error = refusal(lambda: CALLABLE_SITES[site](fn))
        gevent.sleep(0.05)  # a call wrongly queued would run now
        gc.collect()  # ... and its coroutine report that it was never awaited
    never_awaited = [str(w.message) for w in caught if "never awaited" in str(w.message)]
    assert_refused(error, TypeError, "async", "coroutine")
    assert never_awaited == []


# -- 2: None where a callable is required ------------------------------------------------

NONE_SITES: dict[str, Callable[[], Any]] = {
    "catch": lambda: observed_rejection().catch(None),  # type: ignore[arg-type]
    "finally_": lambda: Promise.resolved(1).finally_(None),  # type: ignore[arg-type]
    "tap": lambda: Promise.resolved(1).tap(None),  # type: ignore[arg-type]
}


@pytest.mark.parametrize("site", list(NONE_SITES), ids=str)
def test_none_callback_is_refused_with_type_error(site: str) -> None:
    assert_refused(refusal(NONE_SITES[site]), TypeError, "callable", "None")


def test_then_with_no_callbacks_stays_allowed_and_passes_the_value_through() -> None:
    assert Promise.resolved(7).then(None, None).get(timeout=5) == 7


# -- 4: the wrong thread -------------------------------------------------------------------

PROMISE_SITES: dict[str, Callable[[Promise[Any], Callable[..., Any]], Any]] = {
    "then": lambda p, cb: p.then(cb, cb),
    "catch": lambda p, cb: p.catch(cb),
    "finally_": lambda p, cb: p.finally_(cb),
    "tap": lambda p, cb: p.tap(cb),
    "set": lambda p, cb: p.set(1),
    "set_result": lambda p, cb: p.set_result(1),
    "set_exception": lambda p, cb: p.set_exception(Boom("from a thread")),
    "cancel": lambda p, cb: p.cancel(),
    "Promise.all": lambda p, cb: Promise.all([p]),
    "Promise.race": lambda p, cb: Promise.race([p]),
    "Promise.any": lambda p, cb: Promise.any([p]),
    "Promise.settle": lambda p, cb: Promise.settle([p]),
}


@pytest.mark.parametrize("site", list(PROMISE_SITES), ids=str)
def test_promise_used_from_another_thread_raises_runtime_error(site: str) -> None:
    gevent.get_hub()
    promise: Promise[Any] = Promise()  # made in the main thread's hub
    calls: list[Any] = []
    error = raises_in_a_thread(lambda: PROMISE_SITES[site](promise, calls.append))
    gevent.sleep(0.02)
    assert_refused(error, RuntimeError, "call_soon_threadsafe", "call_in_hub")
    assert (promise.ready(), promise.cancelled(), calls) == (False, False, [])


@pytest.mark.parametrize("site", list(PROMISE_SITES), ids=str)
def test_promise_made_before_its_thread_had_a_hub_refuses_other_threads(site: str) -> None:
    # Regression: such a promise took chain calls from any thread, and a callback could land on a hub that never ran.
    def in_a_thread_without_a_hub() -> tuple[Any, ...]:
        assert get_hub_if_exists() is None
        promise: Promise[Any] = Promise()
        calls: list[Any] = []
        error = raises_in_a_thread(lambda: PROMISE_SITES[site](promise, calls.append))
        refused = (promise.ready(), promise.cancelled(), calls)
        promise.set(1)  # its own thread still may
        return error, refused, promise.then(lambda value: value + 1).get(timeout=5)

    error, refused, value = run_in_a_thread_without_a_hub(in_a_thread_without_a_hub)
    assert_refused(error, RuntimeError, "call_soon_threadsafe", "call_in_hub")
    assert (refused, value) == ((False, False, []), 2)


def test_a_promise_made_without_a_hub_and_followed_by_the_hub_is_the_hubs() -> None:
    # Regression: its maker could settle it in its own thread, which ran the hub's links there, at once.
    made: Promise[int] = run_in_a_thread_without_a_hub(Promise)
    ran_in: list[bool] = []
    follower = Promise.resolved(made)
    chained = follower.then(lambda value: ran_in.append(threading.current_thread() is threading.main_thread()))
    error = raises_in_a_thread(lambda: made.set(5))
    made.set(5)  # the hub's thread may
    chained.get(timeout=5)
    assert_refused(error, RuntimeError, "call_soon_threadsafe", "call_in_hub")
    assert (follower.get(timeout=5), ran_in) == (5, [True])


def test_a_promise_chained_by_a_thread_without_a_hub_is_that_threads() -> None:
    # Its callbacks are that thread's hub's to run: the main hub is refused the derived promise,
    # rather than link to it a callback that would wait for a hub that never runs.
    def chain_there() -> Promise[int]:
        source: Promise[int] = Promise()
        derived = source.then(lambda value: value + 1)  # links: this thread now has a hub
        source.set(1)
        return derived

    derived = run_in_a_thread_without_a_hub(chain_there)
    with pytest.raises(RuntimeError, match="thread of the promise's hub"):
        derived.then(print)


@pytest.mark.parametrize("site", list(PROMISE_SITES), ids=str)
def test_a_pools_promise_used_from_another_thread_raises_runtime_error(site: str, pool: Pool) -> None:
    release = threading.Event()
    promise = pool.work(release.wait, 5)  # made by the pool, in the main thread's hub
    calls: list[Any] = []
    try:
        error = raises_in_a_thread(lambda: PROMISE_SITES[site](promise, calls.append))
    finally:
        release.set()
    assert_refused(error, RuntimeError, "call_soon_threadsafe", "call_in_hub")
    assert (promise.get(timeout=5), calls) == (True, [])


POOL_SITES: dict[str, Callable[[Pool, Callable[..., Any]], Any]] = {
    "work": lambda pool, cb: pool.work(cb),
    "map": lambda pool, cb: pool.map(cb, [1]),
    "shutdown": lambda pool, cb: pool.shutdown(wait=False),
    "stats": lambda pool, cb: pool.stats(),
}


@pytest.mark.parametrize("site", list(POOL_SITES), ids=str)
def test_pool_used_from_another_thread_raises_runtime_error(site: str, pool: Pool) -> None:
    calls: list[Any] = []
    error = raises_in_a_thread(lambda: POOL_SITES[site](pool, calls.append))
    gevent.sleep(0.02)
    assert_refused(error, RuntimeError, "call_soon_threadsafe", "call_in_hub")
    stats = pool.stats()
    assert (pool.closed, calls, stats["pending"] + stats["running"] + stats["completed"]) == (False, [], 0)


# -- 5: timeouts -----------------------------------------------------------------------------


def test_result_timeout_raises_builtin_timeout_error() -> None:
    promise: Promise[Any] = Promise()
    with pytest.raises(TimeoutError) as excinfo:
        promise.result(timeout=0.01)
    assert (type(excinfo.value), isinstance(excinfo.value, Exception), promise.ready()) == (TimeoutError, True, False)


def test_get_timeout_raises_gevent_timeout() -> None:
    promise: Promise[Any] = Promise()
    with pytest.raises(gevent.Timeout):
        promise.get(timeout=0.01)
    assert promise.ready() is False


BAD_TIMEOUTS = {
    "negative": (-1, ValueError),
    "nan": (math.nan, ValueError),
    "inf": (math.inf, ValueError),
    "huge": (10**12, ValueError),
    "str": ("1", TypeError),
    "bool": (True, TypeError),
    "object": (object(), TypeError),
}


def _in_a_waiting_call(wait: Callable[[Promise[Any], Any], Any]) -> Callable[[Any], Any]:
    # A promise that a watchdog resolves after 2 s: a wrongly accepted timeout
    # (inf, huge) makes the call return instead of hanging.
    def call(timeout: Any) -> Any:
        promise: Promise[Any] = Promise()
        watchdog = gevent.spawn_later(2, promise.set, "watchdog")
        try:
            return wait(promise, timeout)
        finally:
            watchdog.kill()

    return call


def _join_a_running_thread(timeout: Any) -> Any:
    release = threading.Event()
    handle = gnotifier.start_thread(release.wait, 2)  # ends by itself after 2 s
    try:
        return handle.join(timeout)
    finally:
        release.set()
        handle.join(5)


TIMEOUT_SITES: dict[str, Callable[[Any], Any]] = {
    "Promise.get": _in_a_waiting_call(lambda p, t: p.get(timeout=t)),
    "Promise.result": _in_a_waiting_call(lambda p, t: p.result(timeout=t)),
    "Promise.wait": _in_a_waiting_call(lambda p, t: p.wait(t)),
    "Thread.join": _join_a_running_thread,
}

# A NaN timer wedges libev's timer heap (a NaN interval aborts the process),
# so NaN cases run in a child: a NaN wrongly accepted cannot take this run down.
NAN_SCRIPTS = {
    "Promise.get": ("p = gnotifier.Promise()", "p.get(timeout=math.nan)"),
    "Promise.result": ("p = gnotifier.Promise()", "p.result(timeout=math.nan)"),
    "Promise.wait": ("p = gnotifier.Promise()", "p.wait(math.nan)"),
    "Thread.join": ("t = gnotifier.start_thread(time.sleep, 0.2)", "t.join(math.nan)"),
    "delay": ("", "gnotifier.delay(math.nan, print, 'fired')"),
    "interval": ("", "gnotifier.interval(math.nan, print, 'fired')"),
}
NAN_SCRIPT = """\
import math, time, gnotifier
{setup}
try:
    {call}
except Exception as exc:
    print(type(exc).__name__ + ": " + str(exc), flush=True)
else:
    print("no error", flush=True)
"""


def nan_refusal_in_a_child(site: str) -> BaseException | None:
    """What ``site`` raised for NaN in a fresh interpreter (rebuilt here), or None."""
    setup, call = NAN_SCRIPTS[site]
    try:
        child = run_script(NAN_SCRIPT.format(setup=setup, call=call), timeout=5)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{site} with NaN hung")
    name, _, message = child.stdout.strip().partition(": ")
    if name == "no error":
        return None
    kind = getattr(builtins, name, None)
    if isinstance(kind, type) and issubclass(kind, Exception):
        return kind(message)
    return RuntimeError(f"the child did not report: {child.stdout}{child.stderr}")


@pytest.mark.parametrize("value", list(BAD_TIMEOUTS), ids=str)
@pytest.mark.parametrize("site", list(TIMEOUT_SITES), ids=str)
def test_bad_timeout_is_refused_before_waiting(site: str, value: str) -> None:
    timeout, expected = BAD_TIMEOUTS[value]
    if value == "nan":
        error = nan_refusal_in_a_child(site)
    else:
        started = time.monotonic()
        error = refusal(lambda: TIMEOUT_SITES[site](timeout))
        assert time.monotonic() - started < 0.5, "refused only after waiting"
    assert_refused(error, expected, "timeout")


@pytest.mark.parametrize("value", list(BAD_TIMEOUTS), ids=str)
def test_bad_call_in_hub_timeout_is_refused_before_queueing(value: str) -> None:
    timeout, expected = BAD_TIMEOUTS[value]
    calls: list[str] = []
    error = refusal(lambda: call_in_hub_from_a_thread(calls.append, timeout=timeout))
    gevent.sleep(0.05)  # a call wrongly queued would run now
    assert_refused(error, expected, "timeout")
    assert calls == []


@pytest.mark.parametrize("value", list(BAD_TIMEOUTS), ids=str)
def test_bad_pool_shutdown_timeout_is_refused_before_closing(value: str, pool: Pool) -> None:
    timeout, expected = BAD_TIMEOUTS[value]
    assert_refused(refusal(lambda: pool.shutdown(timeout=timeout)), expected, "timeout")
    assert pool.closed is False


@pytest.mark.parametrize("timeout", [None, 0], ids=["None", "zero"])
def test_none_and_zero_timeouts_are_allowed(timeout: Any, pool: Pool) -> None:
    settled = Promise.resolved(3)
    handle = gnotifier.start_thread(int)
    handle.join(5)
    pool.shutdown(timeout=timeout)
    assert (settled.get(timeout=timeout), settled.result(timeout=timeout), settled.wait(timeout)) == (3, 3, 3)
    assert (handle.join(timeout), pool.closed) == (True, True)


def test_call_in_hub_timeout_zero_is_allowed() -> None:
    hub = gevent.get_hub()
    done: list[str] = []

    def foreign() -> None:
        try:
            gnotifier.call_in_hub(done.append, "ran", timeout=0, hub=hub)
        except TimeoutError:  # no answer at once is fine: 0 is a valid timeout
            pass

    thread = threading.Thread(target=foreign, daemon=True)
    thread.start()
    wait_until(lambda: not thread.is_alive() and done == ["ran"], what="the call with timeout=0")


# -- 6: delay and interval seconds -------------------------------------------------------------

BAD_SECONDS = {
    "nan": (math.nan, ValueError),
    "inf": (math.inf, ValueError),
    "negative": (-1, ValueError),
    "huge": (10**12, ValueError),
    "str": ("1", TypeError),
    "bool": (True, TypeError),
    "None": (None, TypeError),
}
TIMERS = {"delay": gnotifier.delay, "interval": gnotifier.interval}


def _nothing_scheduled() -> None:
    started = time.monotonic()
    assert gevent.wait(timeout=2) is True, "something still keeps the hub alive"
    assert time.monotonic() - started < 1


@pytest.mark.parametrize("value", list(BAD_SECONDS), ids=str)
@pytest.mark.parametrize("timer", list(TIMERS), ids=str)
def test_bad_seconds_are_refused_and_nothing_is_scheduled(timer: str, value: str) -> None:
    seconds, expected = BAD_SECONDS[value]
    if value == "nan":
        assert_refused(nan_refusal_in_a_child(timer), expected, "seconds")
        return
    calls: list[str] = []
    error = refusal(lambda: TIMERS[timer](seconds, calls.append, "fired"))
    assert_refused(error, expected, "seconds")
    _nothing_scheduled()
    assert calls == []


def test_interval_zero_is_refused() -> None:
    assert_refused(refusal(lambda: gnotifier.interval(0, print)), ValueError, "seconds")
    _nothing_scheduled()


def test_delay_zero_is_allowed() -> None:
    calls: list[str] = []
    gnotifier.delay(0, calls.append, "fired")
    wait_until(lambda: calls == ["fired"], what="delay(0)")


# -- 7: pool sizes and concurrency ---------------------------------------------------------

BAD_POOLS: dict[str, tuple[Callable[[], Any], type[BaseException], str]] = {
    "size-huge": (lambda: Pool(size=10**12), ValueError, "size"),
    "max_pending-huge": (lambda: Pool(max_pending=10**12), ValueError, "max_pending"),
    "size-zero": (lambda: Pool(size=0), ValueError, "size"),
    "size-negative": (lambda: Pool(size=-1), ValueError, "size"),
    "size-str": (lambda: Pool(size="2"), TypeError, "size"),  # type: ignore[arg-type]
    "size-float": (lambda: Pool(size=2.0), TypeError, "size"),  # type: ignore[arg-type]
    "size-bool": (lambda: Pool(size=True), TypeError, "size"),
    "amap-concurrency-zero": (lambda: gnotifier.amap(str, [1], concurrency=0), ValueError, "concurrency"),
}


@pytest.mark.parametrize("case", list(BAD_POOLS), ids=str)
def test_bad_pool_size_or_concurrency_is_refused(case: str) -> None:
    make, expected, hint = BAD_POOLS[case]
    assert_refused(refusal(make), expected, hint)


# -- 8: hub= of the wrong type ---------------------------------------------------------------

BAD_HUBS = {"str": "hub", "int": 42, "object": object()}
HUB_SITES: dict[str, Callable[[Any], Any]] = {
    "call_soon_threadsafe": lambda hub: gnotifier.call_soon_threadsafe(print, hub=hub),
    "call_in_hub": lambda hub: call_in_hub_from_a_thread(print, hub=hub),
}


@pytest.mark.parametrize("hub", list(BAD_HUBS.values()), ids=list(BAD_HUBS))
@pytest.mark.parametrize("site", list(HUB_SITES), ids=str)
def test_hub_of_the_wrong_type_is_refused(site: str, hub: Any) -> None:
    assert_refused(refusal(lambda: HUB_SITES[site](hub)), TypeError, "hub")


# -- 9: not iterables --------------------------------------------------------------------------

ITERABLE_SITES: dict[str, Callable[[Any], Any]] = {
    "Promise.all": Promise.all,
    "Promise.race": Promise.race,
    "Promise.any": Promise.any,
    "Promise.settle": Promise.settle,
    "Pool.map": lambda items: gnotifier.default_pool().map(str, items),
    "amap": lambda items: gnotifier.amap(str, items),
    "areduce": lambda items: gnotifier.areduce(max, items, 0),
    "afilter": lambda items: gnotifier.afilter(bool, items),
    "aeach": lambda items: gnotifier.aeach(str, items),
}
NOT_ITERABLE = {"int": 42, "None": None, "str": "abc"}


@pytest.mark.parametrize("items", list(NOT_ITERABLE.values()), ids=list(NOT_ITERABLE))
@pytest.mark.parametrize("site", list(ITERABLE_SITES), ids=str)
def test_non_iterable_is_refused_with_type_error(site: str, items: Any) -> None:
    assert_refused(refusal(lambda: ITERABLE_SITES[site](items)), TypeError, "iterable")


# -- 10: keyword arguments reach the job ---------------------------------------------------------


def _keywords(**kwargs: Any) -> dict[str, Any]:
    return kwargs


@pytest.mark.parametrize(
    "submit, keyword",
    [
        pytest.param(gnotifier.work, "fn", id="work-fn"),
        pytest.param(lambda *a, **k: gnotifier.default_pool().work(*a, **k), "fn", id="Pool.work-fn"),
        pytest.param(lambda *a, **k: gnotifier.default_pool().work(*a, **k), "self", id="Pool.work-self"),
    ],
)
def test_keyword_arguments_reach_the_job(submit: Callable[..., Promise[Any]], keyword: str) -> None:
    assert submit(_keywords, **{keyword: 1}).get(timeout=5) == {keyword: 1}


# -- 11: a promise resolved with itself ------------------------------------------------------------


def test_promise_resolved_with_itself_rejects_with_type_error() -> None:
    promise: Promise[Any] = Promise()
    promise.set(promise)  # neither raises nor hangs
    with pytest.raises(TypeError) as excinfo:
        promise.get(timeout=1)
    assert str(excinfo.value).strip()


def test_then_callback_returning_its_own_derived_promise_rejects_with_type_error() -> None:
    box: list[Promise[Any]] = []
    derived = Promise.resolved(1).then(lambda _: box[0])
    box.append(derived)
    with pytest.raises(TypeError) as excinfo:
        derived.get(timeout=1)
    assert str(excinfo.value).strip()


# -- the library's own errors say what to do ------------------------------------------------------------


def _settle_twice(promise: Promise[Any]) -> None:
    promise.set(1)
    promise.set(2)


def _cancelled_job(pool: Pool) -> None:
    gate = threading.Event()
    running = pool.work(gate.wait, 5)  # size=1: the next job stays queued
    queued = pool.work(int, "1")
    try:
        assert queued.cancel()
        queued.get(timeout=5)
    finally:
        gate.set()
        running.get(timeout=5)


def _work_after_shutdown(pool: Pool) -> None:
    pool.shutdown()
    pool.work(int, "1")


OWN_ERRORS: dict[str, tuple[Callable[[Pool], None], type[BaseException], str]] = {
    "Promise set twice": (lambda pool: _settle_twice(Promise()), gnotifier.AlreadySettled, "make a new promise"),
    "ThreadsafePromise set twice": (
        lambda pool: _settle_twice(gnotifier.ThreadsafePromise()),
        gnotifier.AlreadySettled,
        "make a new promise",
    ),
    "a queued job cancelled": (_cancelled_job, gnotifier.Cancelled, "submit it again"),
    "work() after shutdown": (_work_after_shutdown, gnotifier.PoolClosed, "default_pool()"),
}


@pytest.mark.parametrize("case", list(OWN_ERRORS), ids=str)
def test_the_librarys_own_errors_say_what_to_do(case: str, pool: Pool) -> None:
    cause, error, advice = OWN_ERRORS[case]
    with pytest.raises(error) as raised:
        cause(pool)
    assert advice in str(raised.value)


# -- 12: gevent's ThreadPoolExecutor futures ----------------------------------------------------------


@pytest.fixture
def gevent_executor() -> Iterator[gevent.threadpool.ThreadPoolExecutor]:
    executor = gevent.threadpool.ThreadPoolExecutor(max_workers=1)
    yield executor
    executor.shutdown(wait=True)


GEVENT_FUTURE_SITES: dict[str, tuple[Callable[[Any], Promise[Any]], Any]] = {
    "from_future": (lambda ex: Promise.from_future(ex.submit(int, "5")), 5),
    "Promise.all": (lambda ex: Promise.all([ex.submit(int, "1"), 2]), [1, 2]),
    "then-returns-it": (lambda ex: Promise.resolved("6").then(lambda s: ex.submit(int, s)), 6),
    "Promise.resolved": (lambda ex: Promise.resolved(ex.submit(int, "7")), 7),
}


@pytest.mark.parametrize("site", list(GEVENT_FUTURE_SITES), ids=str)
def test_gevent_executor_futures_are_followed(site: str, gevent_executor: Any) -> None:
    follow, expected = GEVENT_FUTURE_SITES[site]
    assert follow(gevent_executor).get(timeout=5) == expected


def _set_to(future: Any) -> Promise[Any]:
    promise: Promise[Any] = Promise()
    promise.set(future)
    return promise


# Their exception() raises the error rather than returning it.
GEVENT_FAILED_FUTURE_SITES: dict[str, Callable[[Any], Promise[Any]]] = {
    "from_future": lambda ex: Promise.from_future(ex.submit(int, "x")),
    "set": lambda ex: _set_to(ex.submit(int, "x")),
    "Promise.all": lambda ex: Promise.all([ex.submit(int, "x"), 2]),
    "then-returns-it": lambda ex: Promise.resolved("x").then(lambda s: ex.submit(int, s)),
    "Pool(executor=)": lambda ex: gnotifier.Pool(executor=ex).work(int, "x"),
}


@pytest.mark.parametrize("site", list(GEVENT_FAILED_FUTURE_SITES), ids=str)
def test_gevent_executor_futures_that_fail_reject_with_their_error(site: str, gevent_executor: Any) -> None:
    with pytest.raises(ValueError, match="invalid literal for int"):
        GEVENT_FAILED_FUTURE_SITES[site](gevent_executor).get(timeout=5)


# -- 13: a forgotten run() ------------------------------------------------------------------------------

FORGOTTEN_RUN = {
    "work-then": "import gnotifier\ngnotifier.work(sum, [1, 2]).then(print)\n",
    "notifier-trigger": "import gnotifier\ngnotifier.make_notifier(print, 'x').trigger()\n",
}


@pytest.mark.parametrize("script", list(FORGOTTEN_RUN), ids=str)
def test_forgotten_run_warns_once_at_exit(script: str) -> None:
    child = run_script(FORGOTTEN_RUN[script])
    assert child.returncode == 0, child.stderr
    assert child.stderr.count("gnotifier.run(main)") == 1, child.stderr
    assert len(re.findall(r"\b[A-Z]\w*Warning\b", child.stderr)) == 1, child.stderr


def test_run_used_correctly_prints_no_warning() -> None:
    child = run_script(
        """\
        import gnotifier

        def main():
            gnotifier.work(sum, [1, 2]).then(print)
            gnotifier.make_notifier(print, "x").trigger()

        gnotifier.run(main)
        """
    )
    assert (child.returncode, child.stderr, sorted(child.stdout.split())) == (0, "", ["3", "x"])
