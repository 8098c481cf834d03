# Promise: a gevent AsyncResult that settles once, chains, and never loses an error.
#
# Guarantees:
# - A promise settles once; a second set()/set_exception() raises AlreadySettled.
#   A promise resolved with another promise, AsyncResult or Future follows it.
# - Callbacks registered with then()/catch()/finally_()/tap() never run inside
#   the registering call: gevent's rawlink runs them later, in hub context of
#   the promise's hub, in registration order, also when already settled.
# - An error someone observed (get(), .exception, .exc_info, a chain method or
#   a combinator) is never printed; one nobody observed is reported once,
#   through the hub's handle_error, when the promise is garbage-collected
#   (Cancelled excepted: cancelling was the caller's own doing).
# - get() re-raises the very exception object with its original traceback
#   (gevent's AsyncResult pickles tracebacks and drops frames; we do not give
#   it one to pickle).
#
# Assumptions:
# - Promises are settled and chained in their hub's thread, like any
#   AsyncResult. Results from other threads reach it through the dispatcher
#   (from_future(), work()); nothing here settles a promise off the hub.
from __future__ import annotations

import concurrent.futures
import sys
from typing import Any, Callable, Generic, Iterable, TypeVar, overload

from gevent._hub_local import get_hub_if_exists
from gevent.event import AsyncResult
from gevent.hub import get_hub
from gevent.timeout import Timeout

from ._dispatch import dispatcher_for
from ._errors import AlreadySettled, Cancelled
from ._outcome import Outcome, Value

if sys.version_info >= (3, 11):
    from builtins import BaseExceptionGroup
else:
    from exceptiongroup import BaseExceptionGroup

T = TypeVar("T")
U = TypeVar("U")
E = TypeVar("E", bound=BaseException)

__all__ = ["Promise", "link_later", "to_promise"]

_ar_exception = AsyncResult.exception
_ar_set = AsyncResult.set
_ar_set_exception = AsyncResult.set_exception


# AsyncResult is generic only in its type stubs, so Generic supplies [T] at runtime.
class Promise(AsyncResult, Generic[T]):  # type: ignore[type-arg]
    """A ``gevent.event.AsyncResult`` that settles once and chains.

    Greenlets ``get()`` it like any ``AsyncResult``. Chain methods return a
    new promise and must be called in the hub's thread; their callbacks run
    later in hub context, never inside the call that registers them. Settle
    a promise only in its hub's thread: from other threads use
    ``call_soon_threadsafe(promise.set, value, hub=hub)``.
    """

    __slots__ = (
        "_observed",  # someone looked at the outcome; hub thread only
        "_following",  # resolved with another awaitable, waiting on it; hub thread only
        "_job",  # what cancel() cancels (a pool job or an executor future), or None
    )

    def __init__(self) -> None:
        AsyncResult.__init__(self)
        self._observed = False
        self._following = False
        self._job: Any = None

    # -- settling (hub thread) ---------------------------------------------

    def set(self, value: Any = None) -> None:
        """Resolve with ``value``; must be called in the promise's hub thread.

        A ``Promise``, ``AsyncResult`` or ``concurrent.futures.Future`` value
        is followed: this promise settles as it does.

        Raises:
            AlreadySettled: the promise was already settled or is following.
        """
        if self._following or self.ready():
            raise AlreadySettled(f"{self!r} is already settled; a promise settles once")
        if isinstance(value, (AsyncResult, concurrent.futures.Future)):
            self._following = True
            _follow(self, value)
        else:
            _ar_set(self, value)

    set_result = set

    def set_exception(self, exception: BaseException, exc_info: Any = None) -> None:  # type: ignore[override]
        """Reject with ``exception``; must be called in the promise's hub thread.

        The exception keeps its own ``__traceback__``; ``exc_info`` is
        accepted for ``AsyncResult`` compatibility and only its traceback is
        used, when the exception has none.

        Raises:
            AlreadySettled: the promise was already settled or is following.
            TypeError: ``exception`` is not an exception instance.
        """
        if not isinstance(exception, BaseException):
            raise TypeError(f"set_exception() needs an exception instance, got {exception!r}")
        if self._following or self.ready():
            raise AlreadySettled(f"{self!r} is already settled; a promise settles once")
        if exc_info and exception.__traceback__ is None:
            exception = exception.with_traceback(exc_info[2])
        # No exc_info: gevent would pickle the traceback and lose its frames.
        _ar_set_exception(self, exception)

    def _settle(self, outcome: Outcome) -> None:
        # Hub thread only; for machinery that has already checked readiness.
        if type(outcome) is Value:
            _ar_set(self, outcome.value)
        else:
            _ar_set_exception(self, outcome.error)  # type: ignore[union-attr]

    # -- reading -------------------------------------------------------------

    def get(self, block: bool = True, timeout: float | None = None) -> T:
        """Return the value or raise the error; observes the outcome.

        Blocks the calling greenlet (not the thread) until settled, at most
        ``timeout`` seconds (then raises ``gevent.Timeout``). The error is
        the very object the job raised, with its original traceback.
        """
        self._observed = True
        if not self.ready():
            if not block:
                raise Timeout()
            self.wait(timeout)
            if not self.ready():
                raise Timeout(timeout)
        exc = _ar_exception.__get__(self)
        if exc is not None:
            raise exc
        return self.value  # type: ignore[return-value]

    def result(self, timeout: float | None = None) -> T:
        """``get(timeout=timeout)``, as ``concurrent.futures.Future`` names it."""
        return self.get(timeout=timeout)

    @property
    def exception(self) -> BaseException | None:
        """The error, or None; reading it observes the outcome."""
        self._observed = True
        return _ar_exception.__get__(self)  # type: ignore[no-any-return]

    @property
    def exc_info(self) -> tuple[Any, ...]:
        """``(type, error, traceback)`` once rejected, else ``()``; observes it."""
        exc = self.exception
        if exc is None:
            return ()
        return (type(exc), exc, exc.__traceback__)

    def __del__(self) -> None:
        if self._observed:
            return
        exc = _ar_exception.__get__(self)
        # Cancelled is what the canceller asked for, not news: like asyncio,
        # only other errors are reported.
        if exc is not None and not isinstance(exc, Cancelled):
            _report_unobserved(self, exc)

    # -- chaining (hub thread) ----------------------------------------------

    @overload
    def then(
        self,
        on_value: Callable[[T], Promise[U]],
        on_error: Callable[[BaseException], Promise[U] | U] | None = None,
    ) -> Promise[U]: ...
    @overload
    def then(
        self,
        on_value: Callable[[T], U],
        on_error: Callable[[BaseException], U] | None = None,
    ) -> Promise[U]: ...
    @overload
    def then(self, on_value: None = None, *, on_error: Callable[[BaseException], U]) -> Promise[T | U]: ...
    @overload
    def then(self, on_value: None, on_error: Callable[[BaseException], U]) -> Promise[T | U]: ...
    def then(
        self,
        on_value: Callable[[T], Any] | None = None,
        on_error: Callable[[BaseException], Any] | None = None,
    ) -> Promise[Any]:
        """Chain callbacks; returns the promise of what they return.

        ``on_value(value)`` runs when this resolves, ``on_error(exc)`` when
        it rejects (a missing one passes the outcome through). They run later
        in hub context, never inside ``then()``. A callback that raises
        rejects the returned promise; one that returns a promise, an
        ``AsyncResult`` or a ``concurrent.futures.Future`` is followed.
        Must be called in the promise's hub thread; does not block.

        Raises:
            TypeError: a callback is given but not callable.
        """
        _check_callable("then", on_value, on_error)
        return self._chain(_Then(on_value, on_error))

    def catch(self, on_error: Callable[[E], U], *exc_types: type[E]) -> Promise[T | U]:
        """Handle errors of ``exc_types`` (default ``Exception``); others pass.

        Like ``then(None, on_error)`` filtered by type. Hub thread; no blocking.

        Raises:
            TypeError: ``on_error`` is not callable or an exc_type is not an
                exception class.
        """
        _check_callable("catch", on_error)
        for exc_type in exc_types:
            if not (isinstance(exc_type, type) and issubclass(exc_type, BaseException)):
                raise TypeError(f"catch() takes exception classes, got {exc_type!r}")
        return self._chain(_Catch(on_error, exc_types or (Exception,)))

    def finally_(self, fn: Callable[[], Any]) -> Promise[T]:
        """Run ``fn()`` on either outcome, then pass the outcome through.

        Waits for a promise ``fn`` returns; an error from ``fn`` (raised or
        via its promise) replaces the outcome. Hub thread; no blocking.
        """
        _check_callable("finally_", fn)
        return self._chain(_Finally(fn))

    def tap(self, fn: Callable[[T], Any]) -> Promise[T]:
        """Run ``fn(value)`` on success and pass the value through unchanged.

        Waits for a promise ``fn`` returns; an error from ``fn`` rejects the
        returned promise; errors of this promise pass through without calling
        ``fn``. Hub thread; no blocking.
        """
        _check_callable("tap", fn)
        return self._chain(_Tap(fn))

    def _chain(self, link: _Link) -> Promise[Any]:
        self._observed = True
        link_later(self, link)
        return link.derived

    def cancel(self) -> bool:  # type: ignore[override]
        """Cancel the job behind this promise if it has not started.

        Returns True when it had not started: it never will, and this promise
        is rejected with ``Cancelled``. Returns False once running or settled;
        a running job is asked to stop (``check_cancelled()`` raises inside
        it). Must be called in the promise's hub thread.
        """
        if self.ready():
            return False
        job = self._job
        if job is None:
            if self._following:
                return False
        elif job.cancel():
            self._job = None
        else:
            return False
        if not self.ready():
            self._following = False
            _ar_set_exception(self, Cancelled(f"{self!r} was cancelled before it started"))
        return True

    def cancelled(self) -> bool:  # type: ignore[override]
        """Whether this promise was rejected with ``Cancelled``."""
        return isinstance(_ar_exception.__get__(self), Cancelled)

    # -- constructors --------------------------------------------------------

    @classmethod
    def resolved(cls, value: U) -> Promise[U]:
        """A promise resolved with ``value`` (followed if it is awaitable)."""
        promise: Promise[U] = Promise()
        promise.set(value)
        return promise

    @classmethod
    def rejected(cls, exc: BaseException) -> Promise[Any]:
        """A promise rejected with ``exc``."""
        promise: Promise[Any] = Promise()
        promise.set_exception(exc)
        return promise

    @classmethod
    def all(cls, iterable: Iterable[Any]) -> Promise[list[Any]]:
        """The values of all, in input order; rejects with the first error to occur.

        Takes promises, ``AsyncResult``s, ``concurrent.futures.Future``s and
        plain values (resolved). ``all([])`` resolves to ``[]``. Hub thread.

        Raises:
            TypeError: ``iterable`` is not iterable.
        """
        promises = _gather("all", iterable)
        result: Promise[list[Any]] = Promise()
        values: list[Any] = [None] * len(promises)
        remaining = [len(promises)]

        def settled(index: int, source: AsyncResult[Any]) -> None:
            if result.ready():
                return
            exc = _ar_exception.__get__(source)
            if exc is not None:
                _ar_set_exception(result, exc)
                return
            values[index] = source.value
            remaining[0] -= 1
            if remaining[0] == 0:
                _ar_set(result, values)

        _link_each(promises, settled)
        if not promises:
            _ar_set(result, values)
        return result

    @classmethod
    def race(cls, iterable: Iterable[Any]) -> Promise[Any]:
        """Settles as the first of them to settle. Hub thread.

        ``race([])`` never settles.

        Raises:
            TypeError: ``iterable`` is not iterable.
        """
        promises = _gather("race", iterable)
        result: Promise[Any] = Promise()

        def settled(index: int, source: AsyncResult[Any]) -> None:
            if not result.ready():
                _copy(result, source)

        _link_each(promises, settled)
        return result

    @classmethod
    def any(cls, iterable: Iterable[Any]) -> Promise[Any]:
        """The first value; if all reject, an exception group of every error.

        The group (``ExceptionGroup`` or ``BaseExceptionGroup``, the builtin
        on 3.11+) carries the errors in input order. Hub thread.

        Raises:
            TypeError: ``iterable`` is not iterable.
            ValueError: ``iterable`` is empty (no value can ever come).
        """
        promises = _gather("any", iterable)
        if not promises:
            raise ValueError("Promise.any() needs at least one promise: with none, no value can come")
        result: Promise[Any] = Promise()
        errors: list[BaseException | None] = [None] * len(promises)
        remaining = [len(promises)]

        def settled(index: int, source: AsyncResult[Any]) -> None:
            if result.ready():
                return
            exc = _ar_exception.__get__(source)
            if exc is None:
                _ar_set(result, source.value)
                return
            errors[index] = exc
            remaining[0] -= 1
            if remaining[0] == 0:
                group = BaseExceptionGroup(
                    "Promise.any(): every promise was rejected", [e for e in errors if e is not None]
                )
                _ar_set_exception(result, group)

        _link_each(promises, settled)
        return result

    @classmethod
    def settle(cls, iterable: Iterable[Any]) -> Promise[list[tuple[bool, Any]]]:
        """Once all settled: ``(True, value)`` or ``(False, error)`` each, in input order.

        Never rejects. Hub thread.

        Raises:
            TypeError: ``iterable`` is not iterable.
        """
        promises = _gather("settle", iterable)
        result: Promise[list[tuple[bool, Any]]] = Promise()
        outcomes: list[Any] = [None] * len(promises)
        remaining = [len(promises)]

        def settled(index: int, source: AsyncResult[Any]) -> None:
            exc = _ar_exception.__get__(source)
            outcomes[index] = (True, source.value) if exc is None else (False, exc)
            remaining[0] -= 1
            if remaining[0] == 0:
                _ar_set(result, outcomes)

        _link_each(promises, settled)
        if not promises:
            _ar_set(result, outcomes)
        return result

    @classmethod
    def from_future(cls, future: concurrent.futures.Future[U]) -> Promise[U]:
        """Follow a ``concurrent.futures.Future`` completed in any thread.

        Must be called in the hub's thread; the outcome is delivered through
        the dispatcher, and the hub stays alive until it arrives.
        Cancelling the promise cancels the future if it has not started.

        Raises:
            TypeError: ``future`` is not a ``concurrent.futures.Future``.
        """
        if not isinstance(future, concurrent.futures.Future):
            raise TypeError(f"from_future() takes a concurrent.futures.Future, got {future!r}")
        promise: Promise[U] = Promise()
        _follow_future(promise, future)
        return promise


# -- following other awaitables -----------------------------------------------


def _follow(promise: Promise[Any], source: Any) -> None:
    # Hub thread. Settle ``promise`` as ``source`` settles.
    if isinstance(source, concurrent.futures.Future):
        _follow_future(promise, source)
        return
    if isinstance(source, Promise):
        source._observed = True
    promise._job = _FollowCancel(source)
    link_later(source, _Adopt(promise))


class _FollowCancel:
    # cancel() of a following promise cancels what it follows.
    __slots__ = ("source",)

    def __init__(self, source: Any) -> None:
        self.source = source

    def cancel(self) -> bool:
        cancel = getattr(self.source, "cancel", None)
        return bool(cancel()) if cancel is not None else False


class _Adopt:
    # rawlink callback: copy the source's outcome into the follower.
    __slots__ = ("promise",)

    def __init__(self, promise: Promise[Any]) -> None:
        self.promise = promise

    def __call__(self, source: AsyncResult[Any]) -> None:
        promise, self.promise = self.promise, None  # type: ignore[assignment]
        if promise.ready():
            return  # cancelled while following
        promise._following = False
        promise._job = None
        exc = _ar_exception.__get__(source)
        if exc is None:
            _ar_set(promise, source.value)
        else:
            _ar_set_exception(promise, exc)


def _follow_future(promise: Promise[Any], future: concurrent.futures.Future[Any]) -> None:
    # Hub thread. The future completes in some other thread; its callback
    # only queues the outcome for the hub (never touches the hub itself).
    dispatcher = dispatcher_for(get_hub())
    promise._following = True
    promise._job = future
    dispatcher.hold()

    def done(fut: concurrent.futures.Future[Any]) -> None:
        # Any thread (the future's); runs once.
        dispatcher.submit(_settle_from_future, (dispatcher, promise, fut))

    future.add_done_callback(done)


def _settle_from_future(dispatcher: Any, promise: Promise[Any], future: concurrent.futures.Future[Any]) -> None:
    # Hub thread, through the dispatcher.
    dispatcher.release()
    promise._following = False
    promise._job = None
    if promise.ready():
        return  # cancelled meanwhile
    if future.cancelled():
        _ar_set_exception(promise, Cancelled(f"the future {future!r} was cancelled"))
        return
    exc = future.exception()
    if exc is None:
        _ar_set(promise, future.result())
    else:
        _ar_set_exception(promise, exc)


def _gather(what: str, iterable: Iterable[Any]) -> list[Promise[Any]]:
    # Hub thread. The inputs as promises, checked at the call site.
    if isinstance(iterable, (str, bytes)) or not isinstance(iterable, Iterable):
        raise TypeError(f"Promise.{what}() needs an iterable of promises or values, got {iterable!r}")
    if get_hub_if_exists() is None:
        get_hub()
    return [to_promise(item) for item in iterable]


def _link_each(promises: list[Promise[Any]], settled: Callable[[int, AsyncResult[Any]], None]) -> None:
    # Hub thread. Call settled(index, promise) as each settles; consuming an
    # error this way observes it.
    for index, promise in enumerate(promises):
        promise._observed = True
        link_later(promise, _Indexed(settled, index))


class _Indexed:
    __slots__ = ("settled", "index")

    def __init__(self, settled: Callable[[int, AsyncResult[Any]], None], index: int) -> None:
        self.settled = settled
        self.index = index

    def __call__(self, source: AsyncResult[Any]) -> None:
        self.settled(self.index, source)


def link_later(source: AsyncResult[Any], callback: Callable[[AsyncResult[Any]], Any]) -> None:
    """``source.rawlink(callback)``, made sure to call back later in hub context.

    With no hub in the thread, gevent would call an already settled source's
    links synchronously; making the hub first prevents that. Hub thread.
    """
    if get_hub_if_exists() is None:
        get_hub()
    source.rawlink(callback)


def to_promise(item: Any) -> Promise[Any]:
    """``item`` as a promise: promises as they are, awaitables followed,
    plain values resolved. Hub thread."""
    if isinstance(item, Promise):
        return item
    promise: Promise[Any] = Promise()
    promise.set(item)
    return promise


# -- chain links (rawlink callbacks, hub context) ------------------------------


class _Link:
    # Base of the callables then()/catch()/finally_()/tap() rawlink. Each
    # owns the derived promise and settles it; none ever raises.
    __slots__ = ("derived",)

    def __init__(self) -> None:
        self.derived: Promise[Any] = Promise()

    def __call__(self, source: AsyncResult[Any]) -> None:
        raise NotImplementedError

    def _run(self, fn: Callable[..., Any], *args: Any) -> None:
        # Settle the derived promise with what fn returns (followed if it is
        # awaitable) or raises.
        derived = self.derived
        try:
            result = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - rejects the derived promise
            _ar_set_exception(derived, exc)
            return
        _resolve_with(derived, result)

    def _pass(self, source: AsyncResult[Any]) -> None:
        exc = _ar_exception.__get__(source)
        if exc is None:
            _ar_set(self.derived, source.value)
        else:
            _ar_set_exception(self.derived, exc)


def _resolve_with(derived: Promise[Any], result: Any) -> None:
    if isinstance(result, (AsyncResult, concurrent.futures.Future)):
        derived._following = True
        _follow(derived, result)
    else:
        _ar_set(derived, result)


class _Then(_Link):
    __slots__ = ("on_value", "on_error")

    def __init__(self, on_value: Callable[[Any], Any] | None, on_error: Callable[[Any], Any] | None) -> None:
        _Link.__init__(self)
        self.on_value = on_value
        self.on_error = on_error

    def __call__(self, source: AsyncResult[Any]) -> None:
        exc = _ar_exception.__get__(source)
        if exc is None:
            if self.on_value is None:
                self._pass(source)
            else:
                self._run(self.on_value, source.value)
        elif self.on_error is None:
            self._pass(source)
        else:
            self._run(self.on_error, exc)
        self.on_value = self.on_error = None


class _Catch(_Link):
    __slots__ = ("on_error", "exc_types")

    def __init__(self, on_error: Callable[[Any], Any], exc_types: tuple[type[BaseException], ...]) -> None:
        _Link.__init__(self)
        self.on_error = on_error
        self.exc_types = exc_types

    def __call__(self, source: AsyncResult[Any]) -> None:
        exc = _ar_exception.__get__(source)
        if exc is not None and isinstance(exc, self.exc_types):
            self._run(self.on_error, exc)
        else:
            self._pass(source)
        self.on_error = None  # type: ignore[assignment]


class _Finally(_Link):
    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[], Any]) -> None:
        _Link.__init__(self)
        self.fn = fn

    def __call__(self, source: AsyncResult[Any]) -> None:
        fn, self.fn = self.fn, None  # type: ignore[assignment]
        _run_then_pass(self.derived, source, fn)


class _Tap(_Link):
    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        _Link.__init__(self)
        self.fn = fn

    def __call__(self, source: AsyncResult[Any]) -> None:
        fn, self.fn = self.fn, None  # type: ignore[assignment]
        if _ar_exception.__get__(source) is not None:
            self._pass(source)
        else:
            _run_then_pass(self.derived, source, fn, source.value)


def _run_then_pass(derived: Promise[Any], source: AsyncResult[Any], fn: Callable[..., Any], *args: Any) -> None:
    # finally_/tap: run fn, wait for what it returns, then settle ``derived``
    # as ``source`` did, unless fn failed.
    try:
        result = fn(*args)
    except BaseException as exc:  # noqa: BLE001 - rejects the derived promise
        _ar_set_exception(derived, exc)
        return
    if not isinstance(result, (AsyncResult, concurrent.futures.Future)):
        _copy(derived, source)
        return
    waited = to_promise(result)
    waited._observed = True
    link_later(waited, lambda w: _copy(derived, w if _ar_exception.__get__(w) is not None else source))


def _copy(derived: Promise[Any], source: AsyncResult[Any]) -> None:
    exc = _ar_exception.__get__(source)
    if exc is None:
        _ar_set(derived, source.value)
    else:
        _ar_set_exception(derived, exc)


def _check_callable(what: str, *fns: Any) -> None:
    for fn in fns:
        if fn is not None and not callable(fn):
            raise TypeError(f"{what}() takes callables, got {fn!r}")


# -- unobserved errors ----------------------------------------------------------


def _report_unobserved(promise: Promise[Any], exc: BaseException) -> None:
    # Runs from __del__, in whatever thread collected the promise; must not
    # raise. Reported through the hub, as gevent reports a greenlet's error.
    try:
        hub = promise.hub or get_hub_if_exists()
        context = f"{type(promise).__name__} rejected and never observed"
        if hub is None or hub.loop is None:
            import traceback

            traceback.print_exception(type(exc), exc, exc.__traceback__)
            return
        dispatcher = dispatcher_for(hub)
        if dispatcher.in_hub_thread():
            hub.handle_error(context, type(exc), exc, exc.__traceback__)
        else:
            dispatcher.submit(hub.handle_error, (context, type(exc), exc, exc.__traceback__))
    except BaseException:  # noqa: BLE001 - nothing may escape __del__
        pass
