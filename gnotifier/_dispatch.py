# The per-hub dispatcher: the one road from any thread into a hub.
#
# Every hub gnotifier touches gets exactly one Dispatcher: a deque that any
# thread appends ``(fn, args)`` to, and one watcher that wakes the hub to
# drain the deque in batches. Notifier triggers,
# ``call_soon_threadsafe``, ``call_in_hub`` and the delivery of every
# ``work()`` result travel this road; nothing else in gnotifier makes
# watchers per job.
#
# Guarantees:
# - Every call accepted by ``submit()`` runs exactly once, in the hub's
#   thread, in the order each thread submitted it. Calls still queued when
#   the hub is destroyed run during ``hub.destroy()``, before the loop goes.
# - A wakeup runs at most DRAIN_SLICE calls; what is left waits for the
#   next loop iteration, so a flood from other threads cannot keep timers
#   and sockets from their turn.
# - Flow control: a foreign thread that finds more than BACKLOG_HIGH calls
#   queued steps aside (sleeps, releasing the GIL) while the hub drains
#   them, so flooding threads cannot starve the hub's thread of the GIL or
#   grow the queue without bound. It never waits on a hub that is not
#   draining (blocked or busy elsewhere), and the hub's own thread never
#   waits at all.
# - A call that raises is reported through ``hub.handle_error``; nothing
#   escapes the watcher callback (the cffi loops would throw it into the
#   main greenlet) and the drain goes on with the next call.
# - The watcher is ref'd exactly while holds are outstanding (``hold()`` /
#   ``release()``) or calls accepted during a drain wait for the next one,
#   so ``gevent.wait()`` returns once nothing is pending, and on libuv an
#   idle dispatcher never keeps ``hub.destroy()`` waiting.
# - Once ``hub.destroy()`` has begun, ``submit()`` raises HubClosed and no
#   new dispatcher is made for that hub; no thread ever sends to a closed
#   watcher or a destroyed loop.
# - In a forked child, the forking thread's hub is re-initialised at once
#   (``gevent.reinit()``), so the child never takes the parent's wakeups,
#   also after a raw ``os.fork()`` and inside ``register_at_fork`` hooks.
#
# Assumptions:
# - ``collections.deque.append`` and ``popleft`` are atomic under the GIL,
#   and a plain attribute store is seen by every thread in program order.
# - A queued ``(fn, args)`` pair is reachable from its hub until it runs, so
#   the compiled build takes it out of the garbage collector's sight (see
#   ``_untrack``). The one cost: a hub abandoned undestroyed with calls
#   still queued, whose callables refer back to it, is never collected.
# - ``async_().send()`` is the only loop call safe off the hub's thread; the
#   watcher is created, ref'd, unref'd and closed in the hub's thread only.
#   One exception: a dispatcher first asked for from another thread reaches
#   its hub once through gevent's ``loop.run_callback_threadsafe`` (see
#   __init__), whose bookkeeping is not thread-safe on every loop; the
#   README's "First contact" says how users avoid it.
# - The wake-up: on gevent's compiled libev loop, ``send()`` keeps the GIL
#   while it wakes the hub, which then sleeps a second time, in the GIL,
#   until the sender lets go of it. There, where the OS has an eventfd, the
#   watcher is an io watcher over the dispatcher's own eventfd instead, and
#   a thread wakes the hub with ``os.write()``, which lets go of the GIL
#   around the syscall: in bench C a wake-up then took 9.8 us at the median
#   (5 runs), against 17.4 us through a bare ``send()``. Two kinds of thread keep the GIL as they
#   write: the hub's own, which would otherwise wait for it behind any
#   thread that took it, and a pool's worker about to watch for its next
#   job (or to park or exit): while it waited for the GIL, the hub would
#   submit that job before the worker watched for it, and wake another
#   worker. A worker about to run its next job lets go (see _worker.py's
#   _run()). On the cffi loops,
#   which let go of the GIL around ``send()`` already, the eventfd was no
#   faster, and the watcher stays an ``async_()``; so it does in the
#   pure-Python build, which cannot write holding the GIL. A forked child
#   gets an eventfd of its own.
# - Every hub is destroyed through ``Hub.destroy``; wrapping it on the class
#   lets a dispatcher close before the loop is torn down, and lets a hub
#   being destroyed refuse new dispatchers.
from __future__ import annotations

import os
import sys
import weakref
from collections import deque
from typing import Any, Callable, TypedDict

from gevent.hub import Hub, reinit

from . import _fork
from ._errors import HubClosed
from ._gevent import (
    async_send_keeps_gil,
    before_hub_destroy,
    get_hub_if_exists,
    hub_threadpool_if_made,
    retire_fork_watcher,
)
from ._native import allocate_lock, get_ident, sleep, thread_local

__all__ = [
    "DISPATCHER_ATTR",
    "DRAIN_SLICE",
    "Dispatcher",
    "HubStats",
    "ThreadState",
    "all_dispatchers",
    "describe",
    "dispatcher_for",
    "hub_stats",
    "known_dispatcher",
    "target_dispatcher",
    "thread_state",
]


class ThreadState(thread_local):  # the native _thread._local
    """Per-thread state of the threads gnotifier starts (pool workers, start_thread).

    A native thread-local, so it stays per OS thread under monkey-patching.
    Each thread reads and writes only its own.
    """

    dispatcher: Dispatcher | None = None  # the hub's dispatcher that started this thread
    job: Any = None  # the pool job this worker runs now (a _worker.Job), or None
    # A pool's worker loop (_worker.Crew._loop) also keeps, while it runs,
    # "empty" (the fresh contextvars.Context for a job whose submitter's was
    # empty) and "owed" (an outcome is queued that the hub has not been
    # called for yet). It writes them through this thread's __dict__: a
    # store there is a dict store, where one through the thread-local first
    # looks the thread's dict up.


thread_state = ThreadState()

DISPATCHER_ATTR = "_gnotifier_dispatcher"  # where a hub keeps its dispatcher
_DESTROYING_ATTR = "_gnotifier_destroying"  # set on a hub once its destroy() began
# Calls one wakeup runs before the loop gets its turn again: at about
# 0.5 us a call, some 2 ms of hub time. Measured with 1M calls from one
# thread, slices from 1,024 to 65,536 ran within noise of each other
# (1.7-1.95M calls/s) and of draining everything at once.
DRAIN_SLICE = 4096
# Flow control (see the header). Above BACKLOG_HIGH queued calls a foreign
# submitter sleeps in BACK_OFF_STEP steps until the queue is down to
# BACKLOG_LOW, or until STALLED seconds pass in which it did not shrink.
# With 8 threads flooding a hub, its 10 ms heartbeat was late by 500 ms at
# p99 without it (the hub's thread got the GIL one switch interval in
# nine); with it, by 6 ms, and the calls ran faster (2.0-2.4M/s, was
# 1.6-1.8M/s). A high mark of 65,536 still let it be late by 25 ms.
BACKLOG_HIGH = 8192  # calls
BACKLOG_LOW = 2048  # calls
BACK_OFF_STEP = 0.0005  # seconds
STALLED = 0.1  # seconds
# BACKLOG_HIGH as the compiled build's C integer (see _dispatch.pxd): every
# submit() compares the queue's length with it, and against the Python int
# that length was boxed first, 115 of the 780 instructions submit() took.
_backlog_high = BACKLOG_HIGH
# Serialises the creation of dispatchers; never held while running anything.
_create_lock = allocate_lock()

_STARTING, _OPEN, _CLOSED = "starting", "open", "closed"
# The wake-up through an eventfd (see the header); None where the OS has none.
_eventfd: Callable[..., int] | None = getattr(os, "eventfd", None)
_ONE = (1).to_bytes(8, sys.byteorder)  # what a write adds to an eventfd's count
_UNCHECKED: Any = object()  # Dispatcher.checked when no callable is; None is one a caller may pass
# C functions that the compiled build calls directly (declared in
# _dispatch.pxd), and their pure-Python stand-ins, bound through globals()
# so that Cython does not see a second definition:
# - _untrack, PyObject_GC_UnTrack: a queued (fn, args) pair need not be
#   walked by the garbage collector, which otherwise moves every pair that
#   outlives a collection on to older generations and walks them all again
#   in the next full one. 1M calls from a thread ran at 2.2M/s with the
#   pairs tracked, 3.9M/s without. Pure Python has no such call.
# - _untrack_atomic: the same for the arguments of a call when none of
#   them can refer to anything (ints, strings, None...), which is what the
#   collector itself does with such a tuple the first time it walks it,
#   at some 100 instructions a tuple: 97 of a call's 2,340 in bench D.
#   Arguments that may hold references stay tracked.
# - _thread_ident, PyThread_get_thread_ident: get_ident() without a call
#   through Python and an int object per call.
# - _write_one, gnotifier_write_one: adds 1 to an eventfd holding the GIL,
#   where os.write() lets go of it; _write_keeps_gil says whether it can.
#   _empty, gnotifier_empty: reads an eventfd back to 0 holding the GIL: a
#   hub that let go of it there would often wait for it again, behind the
#   very thread that just woke it.
_untrack: Callable[[object], None]
_untrack_atomic: Callable[[tuple[Any, ...]], None]
_thread_ident: Callable[[], int]
_write_one: Callable[[int], object]
_write_keeps_gil: bool
_empty: Callable[[int], object]


def _empty_eventfd(fd: int) -> None:
    try:
        os.read(fd, 8)
    except OSError:  # libev saw it readable, and it was not: nothing may escape
        pass


globals().update(_write_one=lambda fd: os.write(fd, _ONE), _write_keeps_gil=False, _empty=_empty_eventfd)
globals().update(_untrack=lambda pair: None, _untrack_atomic=lambda args: None, _thread_ident=get_ident)


class Dispatcher:
    """The per-hub queue of calls from any thread, and the watcher that wakes the hub for them."""

    __slots__ = (
        "hub",  # the hub served; read-only
        "thread_ident",  # native ident of the hub's thread; read-only
        "_calls",  # deque of (fn, args): append from any thread, popleft in the hub
        "_wakeup_pending",  # True while a wake-up is on its way; set by senders, cleared by the drain
        "_state",  # _STARTING, _OPEN or _CLOSED; written under _lock, read racily
        "_lock",  # guards _state changes and every wake-up through and close() of _watcher
        "_watcher",  # the loop's io or async_ watcher; None until _start() ran in the hub
        "_fd",  # the eventfd the io watcher waits on, or -1 for an async_ watcher; see _start()
        "_holds",  # outstanding holds; hub thread only
        "_ref",  # whether _watcher is ref'd; hub thread only
        "_backlog_held",  # whether a hold covers calls left for the next drain; hub thread only
        "_slices",  # drain slices run so far: written by the hub, read racily by submitters
        "_largest",  # most calls one slice ran; hub thread only
        "_woken",  # whether the loop ever ran our watcher; hub thread only
        "_stalled_at",  # _slices when a submitter last saw the hub not draining; any thread, racy
        "_on_close",  # dict of callables run when the hub is destroyed; see add_close_callback()
        "checked",  # the callable call_soon_threadsafe() or Pool.work() checked last; any thread
        "__weakref__",
    )

    def __init__(self, hub: Hub) -> None:
        """Safe to call from any thread; the watcher is made in the hub's thread."""
        self.hub = hub
        self.thread_ident: int = hub.thread_ident
        self._calls: deque[tuple[Callable[..., Any], tuple[Any, ...]]] = deque()
        self._wakeup_pending = False
        self._state = _STARTING
        self._lock = allocate_lock()
        self._watcher: Any = None
        self._fd = -1
        self._holds = 0
        self._ref = False
        self._backlog_held = False
        self._slices = 0
        self._largest = 0
        self._woken = False
        self._stalled_at = -1
        self._on_close: dict[Callable[[], Any], None] = {}
        # Whatever a thread reads here passed check_callable(), so sending
        # the same callable a million times pays for the check once per
        # drain. Each drain resets it: it keeps a callable (and what a bound
        # method holds) alive only until then.
        self.checked: Any = _UNCHECKED
        if get_ident() == self.thread_ident:
            self._start()
        else:
            # Watchers may only be made in the hub's thread; gevent's own
            # thread-safe callback gets us there. Calls submitted meanwhile
            # wait in the deque and _start() drains them.
            hub.loop.run_callback_threadsafe(self._start)

    def _start(self) -> None:
        # Hub thread only.
        watcher, fd = self._new_watcher(False)
        with self._lock:
            if self._state is not _STARTING:
                self._close_watcher(watcher, fd)
                return
            self._watcher, self._fd = watcher, fd
            self._state = _OPEN
        self._update_ref()  # holds taken while it started: made before _start() ran, from another thread
        self._drain()

    def _new_watcher(self, ref: bool) -> tuple[Any, int]:
        # Hub thread only: the watcher, started, and its eventfd or -1 (see the header).
        loop = self.hub.loop
        fd = -1
        if _write_keeps_gil and _eventfd is not None and async_send_keeps_gil(loop):  # noqa: F821 - see globals()
            try:
                fd = _eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
            except OSError:  # out of file descriptors, say: the async_ watcher needs none
                fd = -1
        watcher: Any = None
        try:
            watcher = loop.io(fd, 1) if fd >= 0 else loop.async_()
            watcher.start(self._wakeup)
            # Idle until something holds it; libuv makes async_ watchers ref'd.
            watcher.ref = ref
        except BaseException:
            if watcher is not None:
                watcher.close()
            if fd >= 0:
                os.close(fd)
            raise
        return watcher, fd

    @staticmethod
    def _close_watcher(watcher: Any, fd: int) -> None:
        # Hub thread only; no thread may wake through them any more.
        watcher.close()
        if fd >= 0:
            os.close(fd)

    @property
    def closed(self) -> bool:
        """Whether the hub was destroyed. Safe to call from any thread."""
        return self._state is _CLOSED

    def submit(self, fn: Callable[..., Any], args: tuple[Any, ...], keep_gil: bool = False) -> None:
        """Queue ``fn(*args)`` to run in the hub. Safe to call from any thread.

        Never blocks beyond a lock held for one wake-up (and, where the
        wake-up lets go of the GIL, until the thread has it back), except
        that a foreign thread steps aside briefly while the hub drains a
        flood (flow control, see the header). The hot path is an append and three
        attribute reads: calls from a busy thread ride on the wakeup the
        first of them sent. ``keep_gil``: the caller keeps the GIL while it
        wakes the hub, as a pool's worker does (see the header).

        Raises:
            HubClosed: the hub was destroyed; the call will not run.
        """
        call = (fn, args)
        _untrack(call)  # noqa: F821 - bound through globals(), see there
        _untrack_atomic(args)  # noqa: F821 - bound through globals(), see there
        calls = self._calls
        calls.append(call)
        if self._state is _CLOSED:
            self._withdraw(call)  # raises, unless close() took the call in time
        # The wakeup last: the hub's thread, woken, needs the GIL we hold.
        if not self._wakeup_pending:
            self._wake(keep_gil)
        if len(calls) > _backlog_high:
            self._back_off()

    def _back_off(self) -> None:
        # Any thread; more than BACKLOG_HIGH calls are queued. Sleeping
        # hands the GIL to the hub's thread, which drains while we wait.
        # If the queue does not shrink for STALLED seconds, the hub is
        # blocked or busy elsewhere: waiting would not help it, so no
        # submitter waits again until the hub drains its next slice
        # (_stalled_at), rather than pay a wait per call.
        if get_ident() == self.thread_ident or self._slices == self._stalled_at:
            return  # the hub's own thread would deadlock; a stalled hub would not drain
        calls = self._calls
        shortest, still = len(calls), 0.0
        while shortest > BACKLOG_LOW and self._state is _OPEN:
            sleep(BACK_OFF_STEP)
            length = len(calls)
            if length < shortest:
                shortest, still = length, 0.0
            else:
                still += BACK_OFF_STEP
                if still >= STALLED:
                    self._stalled_at = self._slices
                    return

    def _wake(self, keep_gil: bool = False) -> None:
        # Any thread. The drain clears the flag *before* it reads the deque,
        # so while the flag is set a wakeup is still ahead of every call
        # appended so far.
        self._wakeup_pending = True
        # acquire()/release() rather than ``with``: compiled, this skips two
        # special-method lookups and bound methods. Triggers ~200 us apart
        # (bench C) then reach their callback ~0.6 us sooner at the 10th
        # percentile, 9.7 against 10.5 us over 12 alternated runs.
        lock = self._lock
        lock.acquire()
        try:
            if self._state is _OPEN:
                if self._fd < 0:
                    self._watcher.send()
                elif keep_gil or _thread_ident() == self.thread_ident:  # noqa: F821 - see globals()
                    _write_one(self._fd)  # noqa: F821 - bound through globals(), see there
                else:
                    os.write(self._fd, _ONE)  # lets go of the GIL: see the header
            # _STARTING: _start() drains the deque once the watcher exists.
            # _CLOSED: submit() withdraws the call.
        finally:
            lock.release()

    def _withdraw(self, call: tuple[Callable[..., Any], tuple[Any, ...]]) -> None:
        # The hub closed while we appended. close() pops under the lock until
        # the deque is empty, so under the lock our call is either still
        # there (close() has not come to it: take it back and refuse it) or
        # gone (close() ran it: it was accepted). Found by identity, never by
        # comparing arguments; other threads may append meanwhile, which
        # leaves the indices before them as they were.
        with self._lock:
            calls = self._calls
            for at in range(len(calls)):
                if calls[at] is call:
                    del calls[at]
                    break
            else:
                return
        raise HubClosed(_closed_message(self.hub))

    def submit_if_open(self, fn: Callable[..., Any], args: tuple[Any, ...], keep_gil: bool = False) -> bool:
        """``submit()``, or False when the hub is gone. Safe to call from any thread.

        For deliveries whose only reader lives in the hub: once the hub is
        destroyed nobody can wait for them any more, so they are dropped.
        """
        try:
            self.submit(fn, args, keep_gil)
        except HubClosed:
            return False
        return True

    def queued(self) -> int:
        """How many accepted calls have not run yet. Safe to call from any thread."""
        return len(self._calls)

    def stats(self) -> HubStats:
        """What this hub waits for and has done; see hub_stats(). Any thread, a snapshot."""
        return {
            "queued": len(self._calls),
            "holds": self._holds,
            "drains": self._slices,
            "largest_batch": self._largest,
        }

    def hold_until_drained(self) -> bool:
        """Hold the hub until the calls queued now have run; whether any are. Hub thread only.

        ``run()`` uses it once the loop went idle: a foreign thread may have
        queued a call whose wakeup the loop did not wait for.
        """
        if not self._calls or self._state is not _OPEN:
            return False
        self.hold()
        self._calls.append((self.release, ()))
        self._wake()
        return True

    @property
    def ran(self) -> bool:
        """Whether the hub ever ran: its greenlet started, or its loop ran our watcher. Any thread."""
        hub = self.hub
        return self._woken or bool(hub) or hub.dead  # a greenlet is false until it starts and once it ends

    def unrun_calls(self) -> int:
        """Calls queued for a live hub that never ran (a forgotten ``run()``). Any thread."""
        return len(self._calls) if self._state is _OPEN and not self.ran else 0

    def _wakeup(self) -> None:
        # The watcher callback; hub thread only. The eventfd is emptied
        # before _drain() clears _wakeup_pending: a wake-up written after
        # this read is ahead of calls that this drain may not see.
        self._woken = True
        if self._fd >= 0:
            _empty(self._fd)  # noqa: F821 - bound through globals(), see there
        self._drain()

    def _drain(self) -> None:
        # Hub thread only, from _wakeup() and after start and fork. Runs at most DRAIN_SLICE of
        # the calls queued when it started; the rest, and later ones, wait
        # for the next loop iteration, so a flood from other threads cannot
        # starve timers and sockets.
        self._wakeup_pending = False
        self._slices += 1
        if self._backlog_held:
            self._backlog_held = False
            self.release()
        calls = self._calls
        batch = min(len(calls), DRAIN_SLICE)
        if batch > self._largest:
            self._largest = batch
        popleft = calls.popleft
        for _ in range(batch):
            fn, args = popleft()
            try:
                fn(*args)
            except BaseException:  # noqa: BLE001 - nothing may escape a watcher callback
                self._report(fn)
            # Not holding on to the call's arguments until the next batch.
            del fn, args
        self.checked = _UNCHECKED  # nor on the last callable checked (see there)
        if calls and self._state is _OPEN:
            # Calls left over: the loop must neither exit nor sleep before
            # it comes back for them. A sender that appended after we
            # cleared the flag has sent already; if none did, send ourselves.
            self._backlog_held = True
            self.hold()
            if not self._wakeup_pending:
                self._wake()

    def _report(self, context: object) -> None:
        # Hub thread only. handle_error itself must not raise out of a
        # watcher callback either.
        try:
            self.hub.handle_error(context, *sys.exc_info())
        except BaseException:  # noqa: BLE001 - last resort, see above
            pass

    def run_reporting(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)``, reporting an error through the hub. Hub thread only."""
        try:
            fn(*args)
        except BaseException:  # noqa: BLE001 - reported, as gevent does
            self._report(fn)

    def in_hub_thread(self) -> bool:
        """Whether the caller runs in the hub's thread. Safe from any thread."""
        return _thread_ident() == self.thread_ident  # noqa: F821 - bound through globals(), see there

    def check_hub_thread(self, what: str) -> None:
        """Raise RuntimeError unless called in the hub's thread."""
        if get_ident() != self.thread_ident:
            raise RuntimeError(
                f"{what} must be called in the thread of the hub it belongs to "
                f"({describe(self.hub)}); from another thread use "
                f"gnotifier.call_in_hub() or call_soon_threadsafe(..., hub=hub)"
            )

    def hold(self) -> None:
        """Keep the hub's loop alive until the matching release(). Hub thread only."""
        self._holds += 1
        self._update_ref()

    def release(self) -> None:
        """End one hold(). Hub thread only."""
        self._holds -= 1
        self._update_ref()

    def hold_from_any_thread(self) -> None:
        """Start one hold(). Safe to call from any thread."""
        if get_ident() == self.thread_ident:
            self.hold()
        else:
            self.submit_if_open(self.hold, ())  # a closed hub has no loop to keep alive

    def release_from_any_thread(self) -> None:
        """End one hold(). Safe to call from any thread."""
        if get_ident() == self.thread_ident:
            self.release()
        else:
            self.submit_if_open(self.release, ())  # a closed hub has nothing to keep alive

    def _update_ref(self) -> None:
        # Hub thread only. Compared, not counted: a hold queued from another
        # thread may arrive after a direct release, so _holds can dip below 0.
        want = self._holds > 0
        if want is not self._ref and self._state is _OPEN:
            self._watcher.ref = want
            self._ref = want

    def add_close_callback(self, fn: Callable[[], Any]) -> None:
        """Run ``fn()`` when the hub is destroyed. Hub thread only.

        Callbacks run newest first; ``fn`` is also the key that
        ``remove_close_callback()`` takes. If the hub is already being
        destroyed, ``fn`` runs at once.
        """
        if self._state is _CLOSED:
            self.run_reporting(fn)
        else:
            self._on_close[fn] = None

    def remove_close_callback(self, fn: Callable[[], Any]) -> None:
        """Forget a callback given to add_close_callback(). Safe to call from any thread.

        A single ``dict.pop``, atomic under the GIL, so a garbage collector
        running a finaliser in any thread may call it.
        """
        self._on_close.pop(fn, None)

    def close(self) -> None:
        """Stop serving the hub: run what is queued, close the watcher.

        Called by ``hub.destroy()``; must be called in the hub's thread.
        Idempotent.
        """
        with self._lock:
            if self._state is _CLOSED:
                return
            self._state = _CLOSED
        _forget(self)
        while self._on_close:
            self.run_reporting(self._on_close.popitem()[0])
        # Every call appended so far was accepted: run them all. Popping under
        # the lock is what lets a late submit() know (see _withdraw()).
        while True:
            with self._lock:
                if not self._calls:
                    watcher, self._watcher = self._watcher, None
                    fd, self._fd = self._fd, -1
                    break
                fn, args = self._calls.popleft()
            self.run_reporting(fn, *args)
        if watcher is not None:
            self._close_watcher(watcher, fd)
        # The closed dispatcher stays on the hub: a thread that looks the
        # hub up from now on must find it closed, not make a fresh one.

    def after_fork_in_child(self) -> None:
        """Carry on in a forked child; the only thread left is the one that forked."""
        # A parent thread may have held our lock; nothing else runs now, so replace it.
        self._lock = allocate_lock()
        if get_ident() != self.thread_ident:
            # The hub's thread is gone: nothing can run this hub any more.
            self._state = _CLOSED
            return
        self._wakeup_pending = False
        if self._state is _OPEN:
            if self._fd >= 0:
                # The eventfd is the parent's too: each would take the
                # other's wake-ups. The new one first, so that its number
                # is not the one the loop knew the old one by.
                old = self._watcher, self._fd
                self._watcher, self._fd = self._new_watcher(self._ref)
                self._close_watcher(*old)
            # A wakeup sent before the fork may not survive it, and neither
            # may one sent from now until the loop is re-initialised once
            # more: gevent's own fork calls reinit() again after the fork
            # hooks, and on libuv that drops a wakeup sent in between (a job
            # that work() in a hook started may finish there). The loop's
            # next turn comes after all of that: look again then.
            self.hub.loop.run_callback(self._drain_after_fork)

    def _drain_after_fork(self) -> None:
        # Hub thread, in the child, on the loop's first turn after fork().
        self._wakeup_pending = False
        self._drain()


_dispatchers: weakref.WeakSet[Dispatcher] = weakref.WeakSet()
# The hub known_dispatcher() found last, with its dispatcher. A hub keeps
# the same dispatcher for life, also once closed, so the pair never goes
# stale; it is replaced whole, so a reader in any thread sees one pair.
_last_seen: tuple[Any, Dispatcher | None] = (None, None)


def all_dispatchers() -> list[Dispatcher]:
    """Every dispatcher still alive. Any thread."""
    return list(_dispatchers)


def _after_fork_in_child() -> None:
    # First of gnotifier's starts in a child (see _fork.py): before any
    # after_in_child hook a user registers later, and at the first call
    # into gnotifier from one registered earlier.
    global _create_lock
    _create_lock = allocate_lock()
    # Until its loop is re-initialised, a child shares the parent's wakeup
    # fd (and on libuv its epoll instance): each would take the other's
    # wakeups. gevent's own fork does this, but a raw os.fork() does not.
    hub = get_hub_if_exists()
    if hub is not None and hub.loop is not None:
        retire_fork_watcher(hub_threadpool_if_made(hub))
        reinit(hub)
    for dispatcher in list(_dispatchers):
        dispatcher.after_fork_in_child()


_fork.on_child(_after_fork_in_child)


def _closed_message(hub: Hub) -> str:
    return f"the hub {describe(hub)} was destroyed; send calls to a live hub"


def describe(hub: Hub) -> str:
    """A hub's name for messages; unlike repr(), safe after destroy()."""
    return f"<Hub at 0x{id(hub):x} of thread 0x{hub.thread_ident:x}>"


class HubStats(TypedDict):
    """What ``hub_stats()`` returns: a hub's calls from threads, and what holds it open."""

    queued: int  # calls accepted from any thread, not run yet
    holds: int  # unsettled work, running threads, followed futures, waiting call_in_hub calls
    drains: int  # batches of queued calls the hub has run
    largest_batch: int  # most calls one batch ran


def hub_stats(hub: Hub | None = None) -> HubStats:
    """A snapshot of what a hub has queued from threads and what holds it open.

    The hub is ``hub`` if given; else, in a thread gnotifier started, the
    hub that started it; else the calling thread's own. ``holds`` counts
    what keeps the hub's loop alive on gnotifier's behalf: a job whose
    promise is unsettled, a thread from ``start_thread()``, a followed
    future, a ``call_in_hub()`` under way, calls left for the next batch.
    A hub with ``queued`` and ``holds`` at 0 waits for nothing of
    gnotifier's. Safe to call from any thread, also once the hub is
    destroyed; the counts may be a moment old.

    Args:
        hub: the hub to look at (see above).

    Returns:
        A dict: ``queued`` (calls not run yet), ``holds``, ``drains``
        (batches run so far) and ``largest_batch``.

    Raises:
        TypeError: ``hub`` is not a gevent Hub.
        RuntimeError: no ``hub`` given and none to infer.
    """
    if hub is not None and not isinstance(hub, Hub):
        raise TypeError(f"hub_stats(): hub= must be a gevent Hub, got {hub!r}")
    if hub is None:
        started_by = thread_state.dispatcher
        hub = started_by.hub if started_by is not None else get_hub_if_exists()
        if hub is None:
            raise RuntimeError("hub_stats(): this thread has no hub; pass hub=<the hub>")
    dispatcher: Dispatcher | None = getattr(hub, DISPATCHER_ATTR, None)
    if dispatcher is None:  # gnotifier never served this hub
        return {"queued": 0, "holds": 0, "drains": 0, "largest_batch": 0}
    return dispatcher.stats()


def known_dispatcher(hub: Hub) -> Dispatcher | None:
    """The dispatcher ``hub`` has, or None while it has none. Safe to call from any thread.

    A thread calling one hub over and over finds it without an attribute
    lookup on the hub: ``call_soon_threadsafe(..., hub=hub)`` from a thread
    (bench D) took some 430 instructions fewer a call, of about 2,800.
    A closed dispatcher is not remembered, so no destroyed hub is kept
    alive by it for long: close() forgets it, and a lookup racing close()
    may keep it only until another hub is looked up.
    """
    global _last_seen
    last = _last_seen
    if last[0] is hub:
        return last[1]
    dispatcher: Dispatcher | None = getattr(hub, DISPATCHER_ATTR, None)
    if dispatcher is not None and dispatcher._state is not _CLOSED:
        _last_seen = (hub, dispatcher)
    return dispatcher


def _forget(dispatcher: Dispatcher) -> None:
    # Any thread, from close(): known_dispatcher() must not keep a destroyed hub alive.
    global _last_seen
    if _last_seen[1] is dispatcher:
        _last_seen = (None, None)


def dispatcher_for(hub: Hub) -> Dispatcher:
    """The dispatcher of ``hub``, made on first use. Safe to call from any thread.

    Raises:
        HubClosed: the hub was destroyed.
    """
    _fork.catch_up()  # a fork hook that runs before gnotifier's: see _fork.py
    dispatcher = known_dispatcher(hub)
    if dispatcher is not None:
        return dispatcher
    with _create_lock:
        dispatcher = getattr(hub, DISPATCHER_ATTR, None)
        if dispatcher is None:
            # Checked under the lock _close_before_destroy() takes first, so no
            # dispatcher is born on a hub whose destroy() has begun.
            if hub.loop is None or getattr(hub, _DESTROYING_ATTR, False):
                raise HubClosed(_closed_message(hub))
            dispatcher = Dispatcher(hub)
            setattr(hub, DISPATCHER_ATTR, dispatcher)
            _dispatchers.add(dispatcher)
    return dispatcher


def _close_before_destroy(hub: Hub) -> None:
    # Runs first in every hub.destroy(): mark the hub, then close its
    # dispatcher while the loop still works; gevent tears the loop down after.
    with _create_lock:
        setattr(hub, _DESTROYING_ATTR, True)
        dispatcher: Dispatcher | None = getattr(hub, DISPATCHER_ATTR, None)
    if dispatcher is not None:
        dispatcher.close()


before_hub_destroy(_close_before_destroy)


def target_dispatcher(hub: Hub | None, what: str) -> Dispatcher:
    """The dispatcher a cross-thread call goes to. Safe to call from any thread.

    ``hub`` when given; else the hub that started this thread (pool workers,
    ``start_thread``); else the hub of the calling thread if it has one.

    Raises:
        RuntimeError: no hub given and none to infer.
        HubClosed: the hub was destroyed.
    """
    if hub is not None:
        if not isinstance(hub, Hub):
            raise TypeError(f"{what}: hub= must be a gevent Hub, got {hub!r}")
        return dispatcher_for(hub)
    dispatcher = thread_state.dispatcher
    if dispatcher is not None:
        return dispatcher
    own = get_hub_if_exists()
    if own is not None:
        return dispatcher_for(own)
    raise RuntimeError(
        f"{what}: this thread was not started by gnotifier and has no hub, so "
        f"the target hub is unknown; pass hub=<the hub>, captured with "
        f"gevent.get_hub() in the hub's thread"
    )
