"""Outcomes: what a call produced, as a value object that can cross threads.

A worker thread captures its job's outcome in a ``Value`` or an ``Error``,
hands the object to the hub through the dispatcher, and the hub settles a
promise with it (``Promise._settle``, the one way a promise settles).
Nothing here is shared: each outcome is written by one thread before the
hand-off and read by the hub after it.

``NotStarted`` is the outcome of a job cancelled before it ran: an
``Error`` carrying ``Cancelled`` that also tells its pool the job never
took a worker.
"""

from __future__ import annotations

import concurrent.futures
import sys
from typing import Any, Callable, Generic, NoReturn, TypeVar, Union

from gevent.event import AsyncResult

from ._errors import Cancelled
from ._gevent import FUTURE_PROXY, proxy_error

if sys.version_info >= (3, 10):
    from typing import ParamSpec
else:
    from typing_extensions import ParamSpec

T = TypeVar("T")
P = ParamSpec("P")

__all__ = ["Error", "NotStarted", "Outcome", "Value", "capture", "exception_of", "from_async_result", "from_future"]


class Value(Generic[T]):
    """A call that returned ``value``."""

    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"Value({self.value!r})"

    def unwrap(self) -> T:
        """The value."""
        return self.value


class Error:
    """A call that raised ``error`` (any BaseException, traceback attached)."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.error!r})"

    def unwrap(self) -> NoReturn:
        """Raise the error, with its own traceback; once.

        The error is dropped from this outcome first, and the raising frame
        lets go of it: a traceback would otherwise keep frames (and this
        outcome) alive in a cycle.
        """
        error, self.error = self.error, None  # type: ignore[assignment]
        try:
            raise error
        finally:
            del error


class NotStarted(Error):
    """A job cancelled before it started: it never ran and never will."""

    __slots__ = ()

    def __init__(self, why: str) -> None:
        Error.__init__(self, Cancelled(why))


Outcome = Union[Value[Any], Error]


def capture(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Value[T] | Error:
    """Run ``fn(*args, **kwargs)`` and return what it produced. Any thread."""
    try:
        return Value(fn(*args, **kwargs))
    except BaseException as exc:  # noqa: BLE001 - the outcome carries it
        return Error(exc)


# The error of a settled AsyncResult, or None; read past Promise's
# ``exception`` property, which counts as observing it.
exception_of: Callable[[AsyncResult[Any]], BaseException | None] = AsyncResult.exception.__get__


def from_async_result(source: AsyncResult[Any]) -> Outcome:
    """The outcome of a settled ``AsyncResult`` (or Promise), without observing it."""
    exc = exception_of(source)
    return Value(source.value) if exc is None else Error(exc)


def from_future(future: concurrent.futures.Future[Any]) -> Outcome:
    """The outcome of a done future; a cancelled one gives ``Cancelled``."""
    if future.cancelled():
        return Error(Cancelled(f"the future {future!r} was cancelled"))
    if FUTURE_PROXY is not None and isinstance(future, FUTURE_PROXY):
        # gevent's ThreadPoolExecutor: its exception() raises the error (a
        # gevent.Timeout as a new TimeoutError) rather than return it.
        exc = proxy_error(future)
    else:
        exc = future.exception()
    return Value(future.result()) if exc is None else Error(exc)
