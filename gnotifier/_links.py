# Chain links: the rawlink callbacks behind then(), catch(), finally_() and tap().
#
# Each link owns the derived promise its chain method returned and settles
# it from the source's outcome; none ever raises (an error in a user
# callback rejects the derived promise instead).
#
# Guarantees:
# - A link runs once, in hub context (gevent's rawlink), never inside the
#   chain method that registered it; it drops its callbacks once run.
# - A derived promise cancelled before its source settled stays cancelled:
#   its link drops the callbacks at once, without calling them.
# - A callback returning an AsyncResult or a Future is followed, so chains
#   of any length settle without recursion.
# - Links settle their derived promise only through _follow.settle() and
#   follow(), which leave one cancelled meanwhile as it is.
from __future__ import annotations

from typing import Any, Callable

from gevent.event import AsyncResult

from ._follow import AWAITABLES, follow, settle, watch
from ._outcome import Error, Value, exception_of, from_async_result

__all__ = ["Catch", "Finally", "Link", "Tap", "Then"]


class Link:
    """Base of the chain links; ``derived`` is the promise it settles."""

    __slots__ = ("derived",)

    def __init__(self, derived: Any) -> None:
        self.derived = derived

    def __call__(self, source: AsyncResult[Any]) -> None:
        # The rawlink callback. cancel() settles the derived promise at once,
        # so a settled one was cancelled: its callbacks must not run.
        if self.derived.ready():
            self._drop()
        else:
            self._fire(source)

    def cancel(self) -> bool:
        # The derived promise's cancel() (the link is its job): its
        # callbacks will never run, so they go now, not when the source
        # settles. True: the derived promise is cancelled, always.
        self._drop()
        return True

    def _fire(self, source: AsyncResult[Any]) -> None:
        raise NotImplementedError

    def _drop(self) -> None:
        raise NotImplementedError

    def _run(self, fn: Callable[..., Any], *args: Any) -> None:
        # Settle the derived promise with what fn returns (followed if it is
        # awaitable) or raises. fn itself may have cancelled it.
        derived = self.derived
        try:
            result = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - rejects the derived promise
            settle(derived, Error(exc))
            return
        if derived.ready():
            return
        if isinstance(result, AWAITABLES):
            follow(derived, result)
        else:
            settle(derived, Value(result))


class Then(Link):
    __slots__ = ("on_value", "on_error")

    def __init__(self, derived: Any, on_value: Callable[[Any], Any] | None, on_error: Callable[[Any], Any] | None):
        Link.__init__(self, derived)
        self.on_value = on_value
        self.on_error = on_error

    def _fire(self, source: AsyncResult[Any]) -> None:
        exc = exception_of(source)
        if exc is None and self.on_value is not None:
            self._run(self.on_value, source.value)
        elif exc is not None and self.on_error is not None:
            self._run(self.on_error, exc)
        else:
            settle(self.derived, from_async_result(source))
        self._drop()

    def _drop(self) -> None:
        self.on_value = self.on_error = None


class Catch(Link):
    __slots__ = ("on_error", "exc_types")

    def __init__(self, derived: Any, on_error: Callable[[Any], Any], exc_types: tuple[type[BaseException], ...]):
        Link.__init__(self, derived)
        self.on_error: Callable[[Any], Any] | None = on_error
        self.exc_types = exc_types

    def _fire(self, source: AsyncResult[Any]) -> None:
        exc = exception_of(source)
        if exc is not None and isinstance(exc, self.exc_types) and self.on_error is not None:
            self._run(self.on_error, exc)
        else:
            settle(self.derived, from_async_result(source))
        self._drop()

    def _drop(self) -> None:
        self.on_error = None


class Finally(Link):
    __slots__ = ("fn",)

    def __init__(self, derived: Any, fn: Callable[[], Any]) -> None:
        Link.__init__(self, derived)
        self.fn: Callable[[], Any] | None = fn

    def _fire(self, source: AsyncResult[Any]) -> None:
        fn, self.fn = self.fn, None
        if fn is not None:
            _run_then_pass(self.derived, source, fn)

    def _drop(self) -> None:
        self.fn = None


class Tap(Link):
    __slots__ = ("fn",)

    def __init__(self, derived: Any, fn: Callable[[Any], Any]) -> None:
        Link.__init__(self, derived)
        self.fn: Callable[[Any], Any] | None = fn

    def _fire(self, source: AsyncResult[Any]) -> None:
        fn, self.fn = self.fn, None
        if exception_of(source) is not None or fn is None:
            settle(self.derived, from_async_result(source))
        else:
            _run_then_pass(self.derived, source, fn, source.value)

    def _drop(self) -> None:
        self.fn = None


def _run_then_pass(derived: Any, source: AsyncResult[Any], fn: Callable[..., Any], *args: Any) -> None:
    # finally_/tap: run fn, wait for what it returns, then settle ``derived``
    # as ``source`` did, unless fn failed.
    try:
        result = fn(*args)
    except BaseException as exc:  # noqa: BLE001 - rejects the derived promise
        settle(derived, Error(exc))
        return
    if not isinstance(result, AWAITABLES):
        settle(derived, from_async_result(source))  # unless fn cancelled it
        return
    waited = type(derived)()  # a promise of our own kind to wait on (result may be a Future)
    follow(waited, result)
    watch(waited, lambda w: settle(derived, from_async_result(w if exception_of(w) is not None else source)))
