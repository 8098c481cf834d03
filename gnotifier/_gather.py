"""Promise.all, race, any and settle: one promise from many.

Each takes promises, AsyncResults, concurrent.futures.Futures and plain
values (resolved), reads its input eagerly (bad input fails at the call
site), and links to every input in the hub; consuming an input's error this
way observes it. They are written against the promise class they are given
(``cls``), which Promise's class methods pass in.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Iterable

from gevent.event import AsyncResult

from ._follow import settle, watch
from ._gevent import get_hub_if_exists
from ._outcome import Error, Value, exception_of, from_async_result

if sys.version_info >= (3, 11):
    from builtins import BaseExceptionGroup
else:
    from exceptiongroup import BaseExceptionGroup

__all__ = ["as_list", "gather_all", "gather_any", "gather_race", "gather_settle"]

Settled = Callable[[int, "AsyncResult[Any]"], None]


def gather_all(cls: Any, iterable: Iterable[Any]) -> Any:
    """``cls`` promise of every value in input order; the first error rejects it."""
    inputs = _inputs(cls, "all", iterable)
    result = cls()
    values: list[Any] = [None] * len(inputs)
    remaining = [len(inputs)]

    def settled(index: int, source: AsyncResult[Any]) -> None:
        if result.ready():
            return
        exc = exception_of(source)
        if exc is not None:
            settle(result, Error(exc))
            return
        values[index] = source.value
        remaining[0] -= 1
        if remaining[0] == 0:
            settle(result, Value(values))

    _link_each(inputs, settled)
    if not inputs:
        settle(result, Value(values))
    return result


def gather_race(cls: Any, iterable: Iterable[Any]) -> Any:
    """``cls`` promise settled as the first input to settle; never for none."""
    inputs = _inputs(cls, "race", iterable)
    result = cls()

    def settled(index: int, source: AsyncResult[Any]) -> None:
        settle(result, from_async_result(source))

    _link_each(inputs, settled)
    return result


def gather_any(cls: Any, iterable: Iterable[Any]) -> Any:
    """``cls`` promise of the first value; an exception group if all reject."""
    inputs = _inputs(cls, "any", iterable)
    if not inputs:
        raise ValueError("Promise.any() needs at least one promise: with none, no value can come")
    result = cls()
    errors: list[BaseException | None] = [None] * len(inputs)
    remaining = [len(inputs)]

    def settled(index: int, source: AsyncResult[Any]) -> None:
        if result.ready():
            return
        exc = exception_of(source)
        if exc is None:
            settle(result, Value(source.value))
            return
        errors[index] = exc
        remaining[0] -= 1
        if remaining[0] == 0:
            every = [error for error in errors if error is not None]
            settle(result, Error(BaseExceptionGroup("Promise.any(): every promise was rejected", every)))

    _link_each(inputs, settled)
    return result


def gather_settle(cls: Any, iterable: Iterable[Any]) -> Any:
    """``cls`` promise of ``(True, value)``/``(False, error)`` per input, in order."""
    inputs = _inputs(cls, "settle", iterable)
    result = cls()
    outcomes: list[Any] = [None] * len(inputs)
    remaining = [len(inputs)]

    def settled(index: int, source: AsyncResult[Any]) -> None:
        exc = exception_of(source)
        outcomes[index] = (True, source.value) if exc is None else (False, exc)
        remaining[0] -= 1
        if remaining[0] == 0:
            settle(result, Value(outcomes))

    _link_each(inputs, settled)
    if not inputs:
        settle(result, Value(outcomes))
    return result


def as_list(what: str, items: Iterable[Any]) -> list[Any]:
    """``items`` read into a list, for a call named ``what``; checked at the call site.

    Raises:
        TypeError: ``items`` is not iterable, or is a str or bytes (almost
            always a mistake for a collection of jobs or promises).
    """
    if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
        raise TypeError(f"{what} needs an iterable (a list, a generator...), got {items!r}")
    return list(items)


def _inputs(cls: Any, what: str, iterable: Iterable[Any]) -> list[Any]:
    # Hub thread. The inputs as promises of ``cls``, checked at the call site.
    items = as_list(f"Promise.{what}()", iterable)
    here = get_hub_if_exists()  # (None: a thread without a hub may only combine promises it made)
    for item in items:  # all checked before any is linked
        if isinstance(item, cls):
            item._check_thread(what)
        elif isinstance(item, AsyncResult) and item.hub is not None and item.hub is not here:
            raise RuntimeError(
                f"Promise.{what}() must be called in the thread of its promises' hub; from another "
                f"thread use gnotifier.call_in_hub(Promise.{what}, promises, hub=hub)"
            )
    return [item if isinstance(item, cls) else _promise_of(cls, item) for item in items]


def _promise_of(cls: Any, item: Any) -> Any:
    promise = cls()
    promise.set(item)  # a plain value resolves it; an awaitable is followed
    return promise


def _link_each(promises: list[Any], settled: Settled) -> None:
    # Hub thread. Call settled(index, promise) as each settles.
    for index, promise in enumerate(promises):
        watch(promise, _Indexed(settled, index))


class _Indexed:
    __slots__ = ("settled", "index")

    def __init__(self, settled: Settled, index: int) -> None:
        self.settled = settled
        self.index = index

    def __call__(self, source: AsyncResult[Any]) -> None:
        self.settled(self.index, source)
