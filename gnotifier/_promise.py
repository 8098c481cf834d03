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
#   it one to pickle). result() raises the builtin TimeoutError on timeout,
#   as concurrent.futures does; get() raises gevent.Timeout, as AsyncResult.
# - Chaining, settling and cancelling from a thread other than the
#   promise's hub's raise RuntimeError at once: nothing is dropped silently.
#
# Assumptions:
# - Promises are settled and chained in their hub's thread, like any
#   AsyncResult. Results from other threads reach it through the dispatcher
#   (from_future(), work()); nothing here settles a promise off the hub.
# - A promise belongs to the hub of the thread that made it, or, if that
#   thread had none yet, to the first hub whose thread chains, settles or
#   waits on it (gevent's AsyncResult binds itself lazily the same way).
from __future__ import annotations

import atexit
import concurrent.futures
import weakref
from typing import Any, Callable, Generic, Iterable, Protocol, TypeVar, overload

from gevent.event import AsyncResult
from gevent.hub import get_hub
from gevent.timeout import Timeout

from ._checks import check_callable, check_timeout
from ._dispatch import dispatcher_for
from ._errors import Cancelled, HubClosed, already_settled
from ._follow import AWAITABLES, FUTURES, follow, link_later, watch, when_done
from ._gather import gather_all, gather_any, gather_race, gather_settle
from ._gevent import get_hub_if_exists
from ._links import Catch, Finally, Link, Tap, Then
from ._native import get_ident
from ._outcome import Error, Outcome, Value, exception_of, from_async_result

T = TypeVar("T")
U = TypeVar("U")
E = TypeVar("E", bound=BaseException)

__all__ = ["Cancellable", "Promise", "cancelling", "complete_view", "promise_for_job", "to_promise"]

# A promise's state; hub thread only. Settled is final.
PENDING = "pending"
FOLLOWING = "following"  # resolved with another awaitable, waiting on it
SETTLED = "settled"

_ar_new = AsyncResult.__new__
_ar_init = AsyncResult.__init__
_ar_set = AsyncResult.set
_ar_set_exception = AsyncResult.set_exception


class Cancellable(Protocol):
    """What a promise cancels through ``cancel()``: a pool's job, or a followed future."""

    def cancel(self) -> bool:
        """Cancel if not started (True); else False."""


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
        "_state",  # PENDING, FOLLOWING or SETTLED; hub thread only
        "_observed",  # someone looked at the outcome; the hub's thread, or a thread that saw it settled
        "_job",  # what cancel() cancels while pending or following, or None; hub thread only
        "_home",  # the hub whose thread may chain, settle and cancel; None until known (see _check_thread)
        "_maker",  # the thread that made it without a hub (its ident), else 0; read-only
    )

    def __init__(self) -> None:
        _ar_init(self)
        self._state = PENDING
        self._observed = False
        self._job: Cancellable | None = None
        home = get_hub_if_exists()
        self._home: Any = home
        # Made where no hub exists yet (a worker thread, or before gevent
        # started), it makes none: a hub made per thread would hold a loop
        # and its file descriptors for good. Its first use binds it (_bind()).
        self._maker = get_ident() if home is None else 0

    def _check_thread(self, what: str) -> None:
        # Cheap: a read, a call and an identity test on the hot path.
        home = self._home
        if home is None:
            self._bind(what)
        elif home is not get_hub_if_exists():
            self._refuse(what)

    def _bind(self, what: str) -> None:
        # A promise made without a hub (Promise.resolved() in a worker, or
        # Promise() before gevent started) is bound by its first use in a
        # thread with a hub, to that hub: a worker's promise handed to the
        # hub that waits for it. The thread that made it binds it to its own
        # hub, made now, as gevent makes one to link or to notify links. Any
        # other thread without a hub is refused: a callback linked there
        # would land on a hub that never runs.
        here = get_hub_if_exists()
        if here is None:
            if get_ident() != self._maker:
                self._refuse(what)
            here = get_hub()
        bound = self.hub  # gevent binds an AsyncResult to a hub once it waits or links
        if bound is not None and bound is not here:
            self._refuse(what)
        self._home = here

    def _refuse(self, what: str) -> None:
        raise RuntimeError(
            f"Promise.{what}() must be called in the thread of the promise's hub; from another "
            f"thread use gnotifier.call_soon_threadsafe(promise.{what}, ..., hub=hub) or "
            f"gnotifier.call_in_hub(promise.{what}, ..., hub=hub)"
        )

    # -- settling (hub thread) ---------------------------------------------

    def set(self, value: Any = None) -> None:
        """Resolve with ``value``; must be called in the promise's hub thread.

        A ``Promise``, ``AsyncResult`` or ``concurrent.futures.Future`` value
        is followed: this promise settles as it does.

        Resolving a promise with itself rejects it with ``TypeError``.

        Raises:
            AlreadySettled: the promise was already settled or is following.
            RuntimeError: called from another thread than the promise's hub's.
        """
        self._check_thread("set")
        if self._state is not PENDING:
            raise already_settled(self)
        if isinstance(value, AWAITABLES):
            self._follow(value)
        else:
            self._settle(Value(value))

    set_result = set

    def set_exception(self, exception: BaseException, exc_info: Any = None) -> None:  # type: ignore[override]
        """Reject with ``exception``; must be called in the promise's hub thread.

        The exception keeps its own ``__traceback__``; ``exc_info`` is
        accepted for ``AsyncResult`` compatibility and only its traceback is
        used, when the exception has none.

        Raises:
            AlreadySettled: the promise was already settled or is following.
            TypeError: ``exception`` is not an exception instance.
            RuntimeError: called from another thread than the promise's hub's.
        """
        self._check_thread("set_exception")
        if not isinstance(exception, BaseException):
            raise TypeError(f"set_exception() needs an exception instance, got {exception!r}")
        if self._state is not PENDING:
            raise already_settled(self)
        if exc_info and exception.__traceback__ is None:
            exception = exception.with_traceback(exc_info[2])
        self._settle(Error(exception))

    # -- the machinery's side (hub thread): _follow.settle() and follow() ---------

    def _settle(self, outcome: Outcome) -> None:
        # The one way a promise settles. A settled promise (one cancelled
        # meanwhile) is left as it is.
        if self._state is SETTLED:
            return
        self._state = SETTLED
        self._job = None
        if type(outcome) is Value:
            _ar_set(self, outcome.value)
        else:
            # No exc_info: gevent would pickle the traceback and lose its frames.
            _ar_set_exception(self, outcome.error)  # type: ignore[union-attr]
            _rejected.add(self)

    def _follow(self, source: Any) -> None:
        # Settle as ``source`` (an AsyncResult or a Future) settles. A Future
        # is cancelled with this promise if it has not started; an
        # AsyncResult may be shared (``Promise.resolved(src)``), so it is not.
        if source is self:
            self._settle(Error(TypeError(f"{self!r} cannot be resolved with itself: it would wait forever")))
            return
        self._state = FOLLOWING
        if isinstance(source, Promise) and source._home is None:
            # A promise made without a hub, followed here: it is ours now, so
            # that its maker cannot settle it (and run our links) in its thread.
            source._home = self._home
        is_future = isinstance(source, FUTURES)  # (a bool: no narrowing of source to object)
        if is_future:
            self._job = source
            when_done(source, self._resolve)
            return
        watch(source, self._adopt)  # a promise's error is now ours to report

    def _resolve(self, outcome: Outcome) -> None:
        # What a followed source settled with. A value that is itself a
        # promise, an AsyncResult or a Future is followed in turn, as set()
        # follows one: over any number of hops, never left as the value.
        if type(outcome) is Value and isinstance(outcome.value, AWAITABLES) and self._state is not SETTLED:
            self._follow(outcome.value)
        else:
            self._settle(outcome)

    def _observe(self) -> None:
        # Someone took over the outcome (a follower, a combinator): its error is theirs to report.
        self._observed = True

    def _adopt(self, source: AsyncResult[Any]) -> None:
        # rawlink callback of a followed AsyncResult.
        self._resolve(from_async_result(source))

    # -- reading -------------------------------------------------------------

    def get(self, block: bool = True, timeout: float | None = None) -> T:
        """Return the value or raise the error; observes the outcome. Hub thread.

        Blocks the calling greenlet (not the thread) until settled, at most
        ``timeout`` seconds (then raises ``gevent.Timeout``, as
        ``AsyncResult.get`` does). The error is the very object the job
        raised, with its original traceback. Other threads wait on
        ``as_future()``, or on a ``ThreadsafePromise``, whose ``get`` blocks
        the calling thread.

        Raises:
            gevent.Timeout: ``timeout`` passed first (``block=False``: not settled).
            TypeError, ValueError: ``timeout`` is not None or 0 to MAX_SECONDS seconds.
        """
        if timeout is not None:
            timeout = check_timeout("Promise.get()", timeout)
        if not self.ready():
            if block:
                AsyncResult.wait(self, timeout)
            if not self.ready():
                raise _timed_out(timeout if block else None)  # saw nothing: observes nothing
        self._observed = True
        exc = exception_of(self)
        if exc is not None:
            _seen(exc)
            raise exc
        return self.value  # type: ignore[return-value]

    def result(self, timeout: float | None = None) -> T:
        """The value or the error, as ``concurrent.futures.Future.result`` gives it. Hub thread.

        Blocks the calling greenlet (not the thread) until settled, at most
        ``timeout`` seconds; observes the outcome.

        Raises:
            TimeoutError: the builtin, as concurrent.futures raises it (an
                ``Exception``, unlike ``gevent.Timeout``), if ``timeout``
                passed first.
            TypeError, ValueError: ``timeout`` is not None or 0 to MAX_SECONDS seconds.
        """
        timeout = check_timeout("Promise.result()", timeout)
        if not self.ready():
            AsyncResult.wait(self, timeout)
            if not self.ready():
                raise TimeoutError(f"{self!r} did not settle within {timeout} s")
        self._observed = True
        return self._unwrap()

    def wait(self, timeout: float | None = None) -> Any:
        """Wait until settled, at most ``timeout`` seconds; as ``AsyncResult.wait``. Hub thread.

        Does not observe the outcome. Returns the value (None if rejected or
        timed out).

        Raises:
            TypeError, ValueError: ``timeout`` is not None or 0 to MAX_SECONDS seconds.
        """
        return AsyncResult.wait(self, check_timeout("Promise.wait()", timeout))

    def _unwrap(self) -> T:
        exc = exception_of(self)
        if exc is not None:
            _seen(exc)
            raise exc
        return self.value  # type: ignore[return-value]

    @property
    def exception(self) -> BaseException | None:
        """The error, or None; reading it once settled observes the outcome. Any thread."""
        exc = exception_of(self)
        if self.ready():
            self._observed = True
            if exc is not None:
                _seen(exc)
        return exc

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
        exc = exception_of(self)
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
            RuntimeError: called from another thread than the promise's hub's.
        """
        self._check_thread("then")
        _check_callables("then", on_value=on_value, on_error=on_error)
        return self._chain(Then(Promise(), on_value, on_error))

    def catch(self, on_error: Callable[[E], U], *exc_types: type[E]) -> Promise[T | U]:
        """Handle errors of ``exc_types`` (default ``Exception``); others pass.

        Like ``then(None, on_error)`` filtered by type. Hub thread; no blocking.

        Raises:
            TypeError: ``on_error`` is not callable or an exc_type is not an
                exception class.
        """
        self._check_thread("catch")
        _check_callables("catch", on_error=on_error, required=True)
        for exc_type in exc_types:
            if not (isinstance(exc_type, type) and issubclass(exc_type, BaseException)):
                raise TypeError(f"catch() takes exception classes, got {exc_type!r}")
        return self._chain(Catch(Promise(), on_error, exc_types or (Exception,)))

    def finally_(self, fn: Callable[[], Any]) -> Promise[T]:
        """Run ``fn()`` on either outcome, then pass the outcome through.

        Waits for a promise ``fn`` returns; an error from ``fn`` (raised or
        via its promise) replaces the outcome. Hub thread; no blocking.
        """
        self._check_thread("finally_")
        _check_callables("finally_", fn=fn, required=True)
        return self._chain(Finally(Promise(), fn))

    def tap(self, fn: Callable[[T], Any]) -> Promise[T]:
        """Run ``fn(value)`` on success and pass the value through unchanged.

        Waits for a promise ``fn`` returns; an error from ``fn`` rejects the
        returned promise; errors of this promise pass through without calling
        ``fn``. Hub thread; no blocking.
        """
        self._check_thread("tap")
        _check_callables("tap", fn=fn, required=True)
        return self._chain(Tap(Promise(), fn))

    def _chain(self, link: Link) -> Promise[Any]:
        self._observed = True
        link_later(self, link)
        derived: Promise[Any] = link.derived
        derived._job = link  # cancelling it drops the callbacks at once
        return derived

    def cancel(self) -> bool:  # type: ignore[override]
        """Cancel the job behind this promise if it has not started.

        Returns True when it had not started: it never will, and this promise
        is rejected with ``Cancelled`` for good (a chain callback waiting on
        it never runs). Returns False once running or settled; a running job
        is asked to stop (``check_cancelled()`` raises inside it). A promise
        that follows another one is cancelled alone: what it follows may be
        shared and goes on. Must be called in the promise's hub thread.

        Raises:
            RuntimeError: called from another thread than the promise's hub's.
        """
        self._check_thread("cancel")
        if self._state is SETTLED:
            return False
        job = self._job
        if job is not None and not job.cancel():
            return False
        # A pool's job settles its promise as it is cancelled; anything else is settled here.
        self._settle(Error(Cancelled(f"{self!r} was cancelled; a new promise (or job) is needed for the outcome")))
        return True

    def as_future(self) -> concurrent.futures.Future[T]:
        """A ``concurrent.futures.Future`` that completes as this promise settles.

        For threads and for ``concurrent.futures.wait`` / ``as_completed``.
        The future is a view: it is marked running at once, so cancelling it
        does nothing (cancel the promise instead). Takes over the outcome
        (observes it). Called in another thread than the promise's hub's,
        the link is made in the hub, through its dispatcher.

        Raises:
            RuntimeError: called for a pending promise made without a hub,
                used in none yet, in a thread without a hub that did not
                make it: no hub is known to deliver the outcome.
            HubClosed: called in another thread once the promise's hub was destroyed.
        """
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        future.set_running_or_notify_cancel()
        home = self._home if self._home is not None else self.hub  # (a hub not yet started is false)
        if home is None and not self.ready():
            self._check_thread("as_future")  # binds it here, or refuses
            home = self._home
        if home is None or home is get_hub_if_exists():
            self._complete_later(future)
        else:
            dispatcher_for(home).submit(self._complete_later, (future,))
        return future

    def _complete_later(self, future: concurrent.futures.Future[Any]) -> None:
        # The promise's hub thread: as_future() takes over the outcome.
        self._observed = True
        if self.ready():
            complete_view(future, self)
        else:
            link_later(self, lambda source: complete_view(future, source))

    def cancelled(self) -> bool:  # type: ignore[override]
        """Whether this promise was rejected with ``Cancelled``."""
        return isinstance(exception_of(self), Cancelled)

    # -- constructors --------------------------------------------------------

    @classmethod
    def resolved(cls, value: U) -> Promise[U]:
        """A promise resolved with ``value`` (followed if it is awaitable). Any thread.

        Raises:
            RuntimeError: ``value`` is awaitable and this thread may not use
                promises of its hub (see ``set()``).
        """
        promise: Promise[U] = Promise()
        if isinstance(value, AWAITABLES):
            promise.set(value)  # followed: a link, made in this thread's hub
        else:
            promise._settle(Value(value))  # nothing links to it yet: no hub is needed, nor made
        return promise

    @classmethod
    def rejected(cls, exc: BaseException) -> Promise[Any]:
        """A promise rejected with ``exc``. Any thread.

        Raises:
            TypeError: ``exc`` is not an exception instance.
        """
        if not isinstance(exc, BaseException):
            raise TypeError(f"Promise.rejected() needs an exception instance, got {exc!r}")
        promise: Promise[Any] = Promise()
        promise._settle(Error(exc))  # nothing links to it yet: no hub is needed, nor made
        return promise

    @classmethod
    def all(cls, iterable: Iterable[Any]) -> Promise[list[Any]]:
        """The values of all, in input order; rejects with the first error to occur.

        Takes promises, ``AsyncResult``s, ``concurrent.futures.Future``s and
        plain values (resolved). ``all([])`` resolves to ``[]``. Hub thread.

        Raises:
            TypeError: ``iterable`` is not iterable.
        """
        return gather_all(cls, iterable)  # type: ignore[no-any-return]

    @classmethod
    def race(cls, iterable: Iterable[Any]) -> Promise[Any]:
        """Settles as the first of them to settle; ``race([])`` never does. Hub thread.

        Raises:
            TypeError: ``iterable`` is not iterable.
        """
        return gather_race(cls, iterable)  # type: ignore[no-any-return]

    @classmethod
    def any(cls, iterable: Iterable[Any]) -> Promise[Any]:
        """The first value; if all reject, an exception group of every error.

        The group (``ExceptionGroup`` or ``BaseExceptionGroup``, the builtin
        on 3.11+) carries the errors in input order. Hub thread.

        Raises:
            TypeError: ``iterable`` is not iterable.
            ValueError: ``iterable`` is empty (no value can ever come).
        """
        return gather_any(cls, iterable)  # type: ignore[no-any-return]

    @classmethod
    def settle(cls, iterable: Iterable[Any]) -> Promise[list[tuple[bool, Any]]]:
        """Once all settled: ``(True, value)`` or ``(False, error)`` each, in input order.

        Never rejects. Hub thread.

        Raises:
            TypeError: ``iterable`` is not iterable.
        """
        return gather_settle(cls, iterable)  # type: ignore[no-any-return]

    @classmethod
    def from_future(cls, future: concurrent.futures.Future[U]) -> Promise[U]:  # also gevent's proxies
        """Follow a ``concurrent.futures.Future`` completed in any thread.

        Must be called in the hub's thread; the outcome is delivered through
        the dispatcher, and the hub stays alive until it arrives.
        Cancelling the promise cancels the future if it has not started.

        Futures of gevent's ``ThreadPoolExecutor`` are taken as well.

        Raises:
            TypeError: ``future`` is not a ``concurrent.futures.Future``.
        """
        if not isinstance(future, FUTURES):
            raise TypeError(f"from_future() takes a concurrent.futures.Future, got {future!r}")
        promise: Promise[U] = Promise()
        follow(promise, future)
        return promise


def to_promise(item: Any) -> Promise[Any]:
    """``item`` as a promise: promises as they are, awaitables followed,
    plain values resolved. Hub thread."""
    if isinstance(item, Promise):
        return item
    promise: Promise[Any] = Promise()
    promise.set(item)
    return promise


def complete_view(future: concurrent.futures.Future[Any], source: AsyncResult[Any]) -> None:
    # Hand a settled promise's outcome to its future view, unless one was given already.
    exc = exception_of(source)
    try:
        if exc is None:
            future.set_result(source.value)
        else:
            future.set_exception(exc)
    except concurrent.futures.InvalidStateError:
        pass


def _timed_out(seconds: float | None) -> Timeout:
    # gevent.Timeout, as AsyncResult.get() raises it. Closed at once: an
    # unclosed one keeps a timer in the loop until garbage collection, which
    # may run in any thread and close it there (libuv crashes on that).
    error = Timeout(seconds)
    error.close()
    return error


def cancelling(promise: Promise[T], jobs: Cancellable) -> Promise[T]:
    """``promise``, whose cancel() now cancels ``jobs`` first, as a job's promise cancels its job. Hub thread."""
    promise._job = jobs
    return promise


def promise_for_job(job: Cancellable, home: Any) -> Promise[Any]:
    """A pending ``Promise()`` made in the thread of the hub ``home``, whose cancel() cancels ``job``.

    What a pool's work() makes per job: the same object, without the cost of
    a call to ``Promise()`` (its ``__init__`` found and called through the
    type, and a look-up of the thread's hub the pool already knows).
    """
    promise: Promise[Any] = _ar_new(Promise)
    _ar_init(promise)
    promise._state = PENDING
    promise._observed = False
    promise._job = job
    promise._home = home
    promise._maker = 0
    return promise


def _check_callables(what: str, required: bool = False, **fns: Any) -> None:
    for name, fn in fns.items():
        if fn is not None or required:
            check_callable(f"Promise.{what}()", fn, name)


# -- unobserved errors ----------------------------------------------------------


# Set on an error once someone saw it (get(), result(), exception) or it was
# reported as never observed. The promises derived from a rejected one (each
# then() left unobserved) carry the very same object: it is news to nobody.
_SEEN = "_gnotifier_seen"


def _seen(exc: BaseException) -> None:
    try:
        setattr(exc, _SEEN, True)
    except (AttributeError, TypeError):
        pass  # an exception without a __dict__: reported by each unobserved promise that carries it


# Rejected promises, weakly: at interpreter exit those still alive and
# never observed are reported, since CPython need not collect at exit what
# module globals hold. Added in the hub's thread as each is rejected.
_rejected: weakref.WeakSet[Promise[Any]] = weakref.WeakSet()


@atexit.register
def _report_at_exit() -> None:
    # No hub runs again: each report is made here, in the exiting thread.
    for promise in list(_rejected):
        exc = exception_of(promise)
        if not promise._observed and exc is not None and not isinstance(exc, Cancelled):
            _report_unobserved(promise, exc, now=True)


def _report_unobserved(promise: Promise[Any], exc: BaseException, now: bool = False) -> None:
    # Runs from __del__, in whatever thread collected the promise, or at
    # exit (``now``); must not raise. Reported through the promise's hub, as
    # gevent reports a greenlet's error; once per error.
    try:
        if getattr(exc, _SEEN, False):
            return
        _seen(exc)
        hub = promise._home
        if hub is None:  # (not "or": a hub not yet started is a false greenlet)
            hub = promise.hub if promise.hub is not None else get_hub_if_exists()
        context = f"{type(promise).__name__} rejected and never observed"
        if hub is None:
            import traceback

            traceback.print_exception(type(exc), exc, exc.__traceback__)
            return
        # A destroyed hub (or one being destroyed) never runs a call again,
        # but its handle_error still prints: the report is made here, in
        # whichever thread collected the promise.
        if now or hub.loop is None:
            _report_in_hub(hub, context, exc)
            return
        try:
            dispatcher = dispatcher_for(hub)
        except HubClosed:
            _report_in_hub(hub, context, exc)
            return
        if dispatcher.in_hub_thread() or not dispatcher.submit_if_open(_report_in_hub, (hub, context, exc)):
            _report_in_hub(hub, context, exc)
    except BaseException:  # noqa: BLE001 - nothing may escape __del__
        pass


def _report_in_hub(hub: Any, context: str, exc: BaseException) -> None:
    # Hub thread, or any once the hub is destroyed. handle_error() throws a
    # SystemExit or KeyboardInterrupt into the main greenlet: right when it
    # happens, but a job's error that nobody looked at would then go off at
    # whatever point the promise happened to be collected. Those are
    # printed, like any other report.
    if isinstance(exc, hub.SYSTEM_ERROR):
        hub.print_exception(context, type(exc), exc, exc.__traceback__)
    else:
        hub.handle_error(context, type(exc), exc, exc.__traceback__)
