# Calls from threads into a hub, and threads that belong to a hub.
#
# Guarantees:
# - call_soon_threadsafe() accepts a call from any thread and runs it exactly
#   once in hub context, in the order each thread made its calls; it touches
#   no loop state from the calling thread (the dispatcher only wakes the
#   hub), except the once a hub's very first gnotifier call comes from
#   another thread (see _dispatch.py's header).
# - call_in_hub() blocks only the calling (foreign) thread, never the hub,
#   and refuses at once in the hub's own thread, where it would deadlock.
#   Every call gets exactly one answer: its outcome, or HubClosed when the
#   hub is destroyed before the call finished (also while it waits inside).
# - A thread from start_thread() is a real OS thread also after patch_all();
#   it keeps its hub alive while it runs, and an error escaping it is
#   reported through that hub's handle_error, never lost.
#
# Assumptions:
# - The native lock from _native is a real OS lock after patch_all(), so
#   blocking on it blocks the thread, not a greenlet.
from __future__ import annotations

import itertools
import sys
import threading
from time import monotonic
from typing import Any, Callable, TypeVar, overload

import gevent
from gevent.event import AsyncResult, Event
from gevent.hub import Hub, get_hub

from ._checks import check_callable, check_timeout
from ._dispatch import Dispatcher, describe, dispatcher_for, known_dispatcher, target_dispatcher, thread_state
from ._errors import HubClosed
from ._gevent import get_hub_if_exists
from ._native import allocate_lock, get_ident, set_os_thread_name, start_new_thread
from ._outcome import Error, Outcome, Value, capture
from ._promise import Promise
from ._worker import stopped_for_exit

__all__ = ["Thread", "call_in_hub", "call_soon_threadsafe", "start_thread"]

if sys.version_info >= (3, 11):
    from typing import TypeVarTuple, Unpack
else:
    from typing_extensions import TypeVarTuple, Unpack

T = TypeVar("T")
EXIT_CHECK = 0.1  # seconds between looks, while call_in_hub() waits, at whether the interpreter exits
Ts = TypeVarTuple("Ts")


def call_soon_threadsafe(fn: Callable[[Unpack[Ts]], object], /, *args: Unpack[Ts], hub: Hub | None = None) -> None:
    """Queue ``fn(*args)`` to run soon in hub context. Safe to call from any thread.

    Every accepted call runs exactly once, in the order each thread made its
    calls; calls never merge. Does not block, except for flow control: a
    thread other than the hub's that finds more than 8,192 calls queued
    waits (sleeping, not holding the GIL) while the hub works them off, and
    never longer than the hub takes to drain or 0.1 s without progress.
    The target hub is ``hub`` if given; else, in a thread gnotifier
    started, the hub that started it; else the calling thread's own hub.
    An error ``fn`` raises goes to the hub's ``handle_error``.

    Args:
        fn: run in hub context as ``fn(*args)``; a coroutine function is refused.
        hub: the target hub (see above).

    Raises:
        TypeError: ``fn`` is not callable.
        HubClosed: the target hub was destroyed.
        RuntimeError: no target hub: pass ``hub=``.
    """
    # Fast paths first: this is the call other threads make millions of times.
    dispatcher = thread_state.dispatcher if hub is None else known_dispatcher(hub)
    if dispatcher is None:  # a first call to this hub, or no hub to infer: fn is checked first
        check_callable("call_soon_threadsafe()", fn)
        dispatcher = target_dispatcher(hub, "call_soon_threadsafe()")
    _call_soon(dispatcher, fn, args)


def _call_soon(dispatcher: Dispatcher, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    # A C function in the compiled build (see _threads.pxd): the dispatcher
    # typed, its fields and submit() are reached without attribute lookups.
    # A thread sending the same function over and over has it checked once
    # per drain (see Dispatcher.checked): the full check cost 60 ns, a
    # third of a call from another thread.
    if fn is not dispatcher.checked:
        check_callable("call_soon_threadsafe()", fn)
        dispatcher.checked = fn
    if not dispatcher.in_hub_thread():
        dispatcher.submit(fn, args)
        return
    # Only the hub's own thread can hold the loop open until the call runs;
    # other threads that need that hold a ref'd Notifier.
    dispatcher.hold()
    dispatcher.submit(_run_held, (dispatcher, fn, args))


def _run_held(dispatcher: Dispatcher, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    # Hub thread, through the dispatcher.
    dispatcher.release()
    dispatcher.run_reporting(fn, *args)


@overload
def call_in_hub(
    fn: Callable[[Unpack[Ts]], Promise[T]], /, *args: Unpack[Ts], timeout: float | None = None, hub: Hub | None = None
) -> T: ...
@overload
def call_in_hub(
    fn: Callable[[Unpack[Ts]], AsyncResult[T]],
    /,
    *args: Unpack[Ts],
    timeout: float | None = None,
    hub: Hub | None = None,
) -> T: ...
@overload
def call_in_hub(
    fn: Callable[[Unpack[Ts]], T], /, *args: Unpack[Ts], timeout: float | None = None, hub: Hub | None = None
) -> T: ...
def call_in_hub(
    fn: Callable[[Unpack[Ts]], Any], /, *args: Unpack[Ts], timeout: float | None = None, hub: Hub | None = None
) -> Any:
    """Run ``fn(*args)`` in a new greenlet of the hub and wait for it, from a foreign thread.

    Blocks the calling thread (not the hub) until ``fn`` returns, and gives
    back its value, or re-raises its exception with the original traceback.
    If ``fn`` returns an ``AsyncResult`` (or ``Promise``), waits for that
    too. On timeout the call goes on in the hub; its outcome is dropped,
    and it no longer keeps the hub alive.

    Args:
        fn: run as ``fn(*args)`` in a new greenlet of the target hub.
        timeout: most seconds to wait; None for no limit.
        hub: the target hub: ``hub=`` when given; else, in a thread
            gnotifier started, the hub that started it.

    Returns:
        What ``fn`` returned (or the value of the ``AsyncResult`` it returned).

    Raises:
        TimeoutError: ``timeout`` seconds passed first.
        RuntimeError: called in the target hub's own thread (it would
            deadlock), or no target hub: pass ``hub=``.
        HubClosed: the target hub was destroyed before the call finished,
            or the interpreter is exiting and the hub, its main thread's,
            will not run again.
        TypeError: ``fn`` is not callable.
    """
    check_callable("call_in_hub()", fn)
    timeout = check_timeout("call_in_hub()", timeout)
    dispatcher = target_dispatcher(hub, "call_in_hub()")
    if dispatcher.in_hub_thread():
        raise RuntimeError(
            "call_in_hub() was called in the hub's own thread, where waiting would "
            "deadlock; call fn directly, or use work()/call_soon_threadsafe()"
        )
    reply = _Reply(dispatcher)
    _refuse_if_stopped_for_exit(dispatcher)
    dispatcher.submit(_spawn_call, (reply, fn, args))
    if not _wait_for(reply, timeout):
        dispatcher.submit_if_open(_give_up, (reply,))
        raise TimeoutError(f"call_in_hub({fn!r}) got no answer within {timeout} s; it goes on in the hub")
    outcome = reply.outcome
    del reply
    return outcome.unwrap()  # type: ignore[union-attr]


def _wait_for(reply: _Reply, timeout: float | None) -> bool:
    # The calling thread: whether the answer came within ``timeout``. In
    # slices, so that a caller of the exiting thread's hub, which will never
    # run again, is let go rather than keep the exit waiting for its job.
    done = reply.done
    deadline = None if timeout is None else monotonic() + timeout
    while True:
        left = EXIT_CHECK if deadline is None else min(EXIT_CHECK, deadline - monotonic())
        if done.acquire(True, max(left, 0.0)):
            return True
        _refuse_if_stopped_for_exit(reply.dispatcher)
        if deadline is not None and monotonic() >= deadline:
            return False


def _refuse_if_stopped_for_exit(dispatcher: Dispatcher) -> None:
    if stopped_for_exit(dispatcher):
        raise HubClosed(
            f"the interpreter is exiting and the hub {describe(dispatcher.hub)} will not run again; "
            "wait for the jobs that call into it (gnotifier.run(main) does) before the program ends"
        )


class _Reply:
    # One call_in_hub() answer. ``outcome`` is written *before* ``done`` is
    # released, which orders it for the waiting thread.
    __slots__ = ("dispatcher", "done", "outcome", "held", "__weakref__")

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        self.done = allocate_lock()
        self.done.acquire()
        self.outcome: Outcome | None = None  # hub thread only, until done is released
        self.held = False  # whether the call holds its hub open; hub thread only

    def answer(self, outcome: Outcome) -> None:
        # Hub thread. The first answer wins: the call's greenlet and the
        # hub's destruction may both try (see _spawn_call()).
        if self.outcome is None:
            self.outcome = outcome
            self.done.release()

    def abandon(self) -> None:
        # Hub thread, from hub.destroy(): the call's greenlet will never
        # run again, so the waiting thread is told now.
        hub = describe(self.dispatcher.hub)
        message = f"the hub {hub} was destroyed before the call finished; destroy a hub once the calls into it returned"
        self.answer(Error(HubClosed(message)))


def _spawn_call(reply: _Reply, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    # Hub context: fn may block (wait on a promise), so it gets a greenlet.
    # A destroyed loop never runs that greenlet again, so the reply is
    # answered by the hub's close too; close() runs this after the close
    # callbacks, so a call it runs is answered here.
    dispatcher = reply.dispatcher
    if dispatcher.closed:
        reply.abandon()
        return
    dispatcher.add_close_callback(reply.abandon)
    dispatcher.hold()
    reply.held = True
    gevent.spawn_raw(_run_call, reply, fn, args)


def _run_call(reply: _Reply, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    # A greenlet of the hub's thread.
    dispatcher = reply.dispatcher
    try:
        outcome = capture(fn, *args)
        waited: set[int] = set()  # an AsyncResult whose value is one, over any number of hops; a cycle ends
        while type(outcome) is Value and isinstance(outcome.value, AsyncResult) and id(outcome.value) not in waited:
            waited.add(id(outcome.value))
            outcome = capture(outcome.value.get)
        reply.answer(outcome)
    finally:
        dispatcher.remove_close_callback(reply.abandon)
        _give_up(reply)


def _give_up(reply: _Reply) -> None:
    # Hub thread: the call is done, or its caller stopped waiting for it
    # (timeout). Either way nobody needs the hub kept open for it any more:
    # a call still waiting, say on an AsyncResult that never settles, goes
    # on while the hub runs, as any greenlet would.
    if reply.held:
        reply.held = False
        reply.dispatcher.release()


class Thread:
    """A real OS thread, also after ``monkey.patch_all()``, that belongs to a hub.

    ``Thread(fn, *args, name=None)`` starts ``fn(*args)`` at once, as
    ``start_thread()`` does; see there.

    Attributes:
        name: the name given (or made up) at start; inside, also the
            thread's ``threading.current_thread().name`` and, where the
            platform allows, its OS-level name (on Linux cut to 15 bytes).
        ident: the thread's identifier, as the unpatched ``_thread.get_ident()``
            gives it there.

    Raises:
        TypeError: ``fn`` is not callable or ``name`` is not a str.
    """

    __slots__ = ("name", "ident", "_done", "_finished", "_dispatcher")

    def __init__(self, fn: Callable[[Unpack[Ts]], object], /, *args: Unpack[Ts], name: str | None = None) -> None:
        check_callable("start_thread()", fn)
        if name is not None and not isinstance(name, str):
            raise TypeError(f"start_thread(name=) must be a str or None, got {name!r}")
        self.name = name or f"gnotifier-thread-{next(_names)}"
        self.ident: int | None = None  # until start_new_thread() returns it
        self._dispatcher = dispatcher = dispatcher_for(get_hub())
        self._done = allocate_lock()  # held until the thread has finished
        self._done.acquire()
        self._finished = Event()  # set in the hub once the thread finished
        dispatcher.hold()
        try:
            self.ident = start_new_thread(self._main, (fn, args))
        except BaseException:
            dispatcher.release()
            raise

    def __repr__(self) -> str:
        state = "finished" if self._finished.is_set() else "running"
        return f"<gnotifier.Thread {self.name!r} ident={self.ident} {state}>"

    def is_alive(self) -> bool:
        """Whether the thread is still running. Any thread."""
        return self._done.locked()

    def join(self, timeout: float | None = None) -> bool:
        """Wait until the thread has finished, at most ``timeout`` seconds.

        In the thread of the hub the thread belongs to, waits cooperatively
        (other greenlets run); elsewhere blocks the calling thread.

        Returns:
            True if the thread finished, False on timeout.

        Raises:
            TypeError, ValueError: ``timeout`` is not None or 0 to MAX_SECONDS seconds.
        """
        timeout = check_timeout("Thread.join()", timeout)
        if get_hub_if_exists() is self._dispatcher.hub and self._dispatcher.in_hub_thread():
            return bool(self._finished.wait(timeout))
        if self._done.acquire(True, -1 if timeout is None else timeout):
            self._done.release()
            return True
        return False

    def _main(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        # The new thread.
        self.ident = get_ident()  # the same, for fn() to read should it come first
        threading.current_thread().name = self.name
        set_os_thread_name(self.name)
        dispatcher = self._dispatcher
        thread_state.dispatcher = dispatcher
        outcome = capture(fn, *args)
        del fn, args
        thread_state.dispatcher = None
        # Done before the hub hears of it: a join() in the hub returns once
        # _finish() ran, and is_alive() must be False by then.
        self._done.release()
        dispatcher.submit_if_open(self._finish, (outcome,))
        del outcome

    def _finish(self, outcome: Outcome) -> None:
        # Hub thread, through the dispatcher.
        dispatcher = self._dispatcher
        self._finished.set()
        dispatcher.release()
        if type(outcome) is Error:
            error = outcome.error
            dispatcher.hub.handle_error(self, type(error), error, error.__traceback__)


_names = itertools.count(1)


def start_thread(fn: Callable[[Unpack[Ts]], object], /, *args: Unpack[Ts], name: str | None = None) -> Thread:
    """Run ``fn(*args)`` in a new real OS thread, also after ``monkey.patch_all()``.

    The thread belongs to the calling thread's hub: the hub stays alive
    while it runs, ``call_soon_threadsafe``/``call_in_hub`` inside it target
    that hub, and an exception escaping ``fn`` is reported through the hub's
    ``handle_error``. Must be called in the hub's thread; does not block.

    Args:
        fn: run as ``fn(*args)`` in the new thread.
        name: the thread's name; by default ``gnotifier-thread-<n>``.

    Returns:
        A ``Thread`` handle: ``join(timeout)``, ``is_alive()``, ``name``, ``ident``.

    Raises:
        TypeError: ``fn`` is not callable or ``name`` is not a str.
    """
    return Thread(fn, *args, name=name)
