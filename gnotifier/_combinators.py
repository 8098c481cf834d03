"""Promise-aware loops after blackbird: amap, areduce, afilter, aeach.

Each takes a function that may return a plain value or a promise (an
``AsyncResult`` or ``concurrent.futures.Future`` works too), returns a
``Promise`` at once, and calls the function later in hub context, never
inside the call itself. All run in the calling thread's hub and must be
called in its thread; inputs are read eagerly, so bad input fails at the
call site.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Iterable, TypeVar

from gevent.event import AsyncResult
from gevent.hub import get_hub

from ._checks import check_callable, check_count
from ._follow import watch
from ._gather import as_list
from ._outcome import exception_of
from ._promise import Promise, to_promise

__all__ = ["aeach", "afilter", "amap", "areduce"]

T = TypeVar("T")
U = TypeVar("U")


def _inputs(what: str, fn: Any, items: Any) -> list[Any]:
    check_callable(f"{what}()", fn)
    return as_list(f"{what}()", items)


def _call(fn: Callable[..., Any], *args: Any) -> Promise[Any]:
    # Hub context: fn's result (or error) as a promise.
    try:
        return to_promise(fn(*args))
    except BaseException as exc:  # noqa: BLE001 - rejects the result
        return Promise.rejected(exc)


def amap(fn: Callable[[T], Any], items: Iterable[T], concurrency: int | None = None) -> Promise[list[Any]]:
    """``fn(item)`` for every item, at most ``concurrency`` unsettled at once.

    Resolves to the results in input order; rejects with the first error
    (no new items start after it). Hub thread; returns at once.

    Args:
        fn: called with each item; may return a promise, which is waited for.
        items: any iterable, read at once.
        concurrency: most calls unsettled at once; None for no limit.

    Returns:
        A promise of the list of results.

    Raises:
        TypeError: ``fn`` not callable, ``items`` not iterable.
        ValueError: ``concurrency`` below 1.
    """
    values = _inputs("amap", fn, items)
    if concurrency is not None:
        check_count("amap()", concurrency, "concurrency (or None for no limit)")
    return _map(fn, values, concurrency, _as_is)


def _map(
    fn: Callable[[Any], Any], values: list[Any], limit: int | None, finish: Callable[[list[Any]], Any]
) -> Promise[Any]:
    # Hub thread: amap, resolving to finish(results). Cancelling the result stops it.
    mapping = _Mapping(fn, values, limit or max(len(values), 1), finish)
    if values:
        get_hub().loop.run_callback(mapping.start_more)
    else:
        mapping.result.set(finish([]))
    return mapping.result


def _as_is(results: list[Any]) -> list[Any]:
    return results


class _Mapping:
    # One amap() under way; hub thread only.
    __slots__ = ("fn", "values", "limit", "finish", "result", "results", "next", "active", "left")

    def __init__(
        self, fn: Callable[[Any], Any], values: list[Any], limit: int, finish: Callable[[list[Any]], Any]
    ) -> None:
        self.fn = fn
        self.values = values
        self.limit = limit
        self.finish = finish
        self.result: Promise[list[Any]] = Promise()
        self.results: list[Any] = [None] * len(values)
        self.next = 0  # index of the next item to start
        self.active = 0  # started, not yet settled
        self.left = len(values)  # not yet settled with a value

    def start_more(self) -> None:
        while not self.result.ready() and self.next < len(self.values) and self.active < self.limit:
            index, self.next = self.next, self.next + 1
            self.active += 1
            promise = _call(self.fn, self.values[index])
            watch(promise, functools.partial(self.settled, index))

    def settled(self, index: int, source: AsyncResult[Any]) -> None:
        self.active -= 1
        if self.result.ready():
            return
        exc = exception_of(source)
        if exc is not None:
            self.result.set_exception(exc)
            return
        self.results[index] = source.value
        self.left -= 1
        if self.left == 0:
            try:
                self.result.set(self.finish(self.results))
            except BaseException as error:  # noqa: BLE001 - rejects the result
                self.result.set_exception(error)
        else:
            self.start_more()


def areduce(fn: Callable[[Any, T], Any], items: Iterable[T], initial: Any) -> Promise[Any]:
    """Fold ``fn(acc, item)`` over the items one after another, from ``initial``.

    ``initial`` and each step may be promises; each step waits for the one
    before. Rejects with the first error. Hub thread; returns at once.

    Args:
        fn: called as ``fn(acc, item)``; may return a promise.
        items: any iterable, read at once.
        initial: the first ``acc``; may be a promise.

    Returns:
        A promise of the last step's result (``initial`` for no items).

    Raises:
        TypeError: ``fn`` not callable, ``items`` not iterable.
    """
    values = _inputs("areduce", fn, items)
    return _sequence(values, lambda acc, item: fn(acc, item), initial)


def afilter(fn: Callable[[T], Any], items: Iterable[T]) -> Promise[list[T]]:
    """The items for which ``fn(item)`` (or the promise it returns) is truthy.

    Calls run concurrently; order is kept. Hub thread; returns at once.

    Args:
        fn: called with each item; may return a promise of the verdict.
        items: any iterable, read at once.

    Returns:
        A promise of the list of the items kept.

    Raises:
        TypeError: ``fn`` not callable, ``items`` not iterable.
    """
    values = _inputs("afilter", fn, items)
    return _map(fn, values, None, lambda keep: [value for value, k in zip(values, keep) if k])


def aeach(fn: Callable[[T], Any], items: Iterable[T]) -> Promise[None]:
    """``fn(item)`` for each item strictly one after another.

    Each call starts only once the promise the previous one returned has
    settled. Resolves to None; rejects with the first error, after which no
    further item is started. Hub thread; returns at once.

    Args:
        fn: called with each item; may return a promise, waited for before the next call.
        items: any iterable, read at once.

    Returns:
        A promise of None, resolved once every call has settled.

    Raises:
        TypeError: ``fn`` not callable, ``items`` not iterable.
    """
    values = _inputs("aeach", fn, items)
    return _sequence(values, lambda _acc, item: fn(item), None, keep=False)


def _sequence(values: list[Any], step: Callable[[Any, Any], Any], initial: Any, keep: bool = True) -> Promise[Any]:
    # Hub thread. Run step(acc, value) for each value in turn, each waiting
    # for the promise of the one before; resolve to the last result (or to
    # None unless ``keep``). Cancelling the result stops the sequence.
    result: Promise[Any] = Promise()
    position = [0]

    def advance(source: AsyncResult[Any]) -> None:
        if result.ready():
            return  # cancelled: no further item starts
        exc = exception_of(source)
        if exc is not None:
            result.set_exception(exc)
            return
        if position[0] == len(values):
            result.set(source.value if keep else None)
            return
        value = values[position[0]]
        position[0] += 1
        promise = _call(step, source.value, value)
        watch(promise, advance)

    start = _call(lambda: initial)
    watch(start, advance)
    return result
