# Notifiers: a callback that waits in a hub until any thread triggers it.
#
# A Notifier is cl-async's notifier on gevent: made in a thread, it belongs
# to that thread's hub; trigger() from any thread queues one delivery
# through the hub's dispatcher, and the callback runs in hub context.
#
# Guarantees:
# - After every trigger() the callback runs at least once; it never runs
#   without one. Triggers that arrive before the delivery merge into it.
# - No callback starts after free() has returned (from another thread,
#   free() waits for a callback already under way); free() is idempotent
#   and safe from any thread, and trigger() after it raises NotifierFreed
#   (also once the hub was destroyed, on every loop).
# - A single-shot notifier is freed before its callback runs, so it runs
#   exactly once even if it raises.
# - A live notifier with ref=True keeps its hub's loop alive.
#
# Assumptions:
# - The dispatcher's submit() is safe from any thread; hold()/release() are
#   hub-thread only and reached from elsewhere through the dispatcher.
from __future__ import annotations

import sys
from typing import Any, Callable

from gevent.hub import get_hub

from ._checks import ClassSignature, check_callable
from ._dispatch import Dispatcher, dispatcher_for
from ._errors import HubClosed, NotifierFreed
from ._native import allocate_lock

__all__ = ["Notifier", "make_notifier"]

if sys.version_info >= (3, 11):
    from typing import TypeVarTuple, Unpack
else:
    from typing_extensions import TypeVarTuple, Unpack

Ts = TypeVarTuple("Ts")

_OPEN, _FREED = "open", "freed"


def _parameters(
    callback: Callable[..., object],
    /,
    *args: Any,
    single_shot: bool = True,
    on_error: Callable[[BaseException], Any] | None = None,
    ref: bool = True,
) -> None:
    """Notifier()'s parameters, as __init__ takes them: inspect.signature() finds none on the compiled class."""


class Notifier:
    """A callback that waits in the hub until some thread triggers it.

    Created in a thread, bound to that thread's hub. ``trigger()`` may be
    called from any thread; the callback then runs later, in hub context.
    Triggers that arrive before the callback runs may merge: after every
    trigger the callback runs at least once, and it never runs without one.

    Args:
        callback: called as ``callback(*args)`` in hub context; must not block.
        *args: arguments for ``callback``.
        single_shot: run once, then free (the default); else run after each
            (merged) trigger until freed.
        on_error: called as ``on_error(exc)`` in hub context when the callback
            raises; by default the hub's ``handle_error`` prints it.
        ref: whether the live notifier keeps the hub's loop alive.

    Raises:
        TypeError: ``callback`` or ``on_error`` is not callable.
    """

    __slots__ = (
        "_dispatcher",  # the hub's dispatcher; read-only
        "_lock",  # guards _state, _queued, _held, _callback, _args, _on_error
        "_state",  # _OPEN or _FREED; guarded by _lock
        "_queued",  # a delivery is queued and has not started; guarded by _lock
        "_held",  # whether this notifier holds the dispatcher; guarded by _lock
        "_callback",  # guarded by _lock; None once freed
        "_args",  # guarded by _lock; () once freed
        "_on_error",  # guarded by _lock; None once freed
        "_single_shot",  # read-only
        "_delivering",  # native lock held by the hub while a callback runs; taken under _lock
        "__weakref__",
    )
    __signature__ = ClassSignature(_parameters)

    def __init__(
        self,
        callback: Callable[[Unpack[Ts]], object],
        /,
        *args: Unpack[Ts],
        single_shot: bool = True,
        on_error: Callable[[BaseException], Any] | None = None,
        ref: bool = True,
    ) -> None:
        check_callable("Notifier()", callback, "callback")
        if on_error is not None:
            check_callable("Notifier()", on_error, "on_error")
        self._dispatcher: Dispatcher = dispatcher_for(get_hub())
        self._lock = allocate_lock()
        self._delivering = allocate_lock()
        self._state = _OPEN
        self._queued = False
        self._callback: Callable[..., Any] | None = callback
        self._args: tuple[Any, ...] = args
        self._on_error = on_error
        self._single_shot = bool(single_shot)
        self._held = bool(ref)
        if self._held:
            self._dispatcher.hold()  # we are in the hub's thread: get_hub() above

    def __repr__(self) -> str:
        state = "freed" if self.freed else "open"
        return f"<gnotifier.Notifier {state} callback={self._callback!r}>"

    @property
    def freed(self) -> bool:
        """Whether the notifier was freed or its hub destroyed. Any thread."""
        return self._state is _FREED or self._dispatcher.closed

    def trigger(self) -> None:
        """Schedule the callback to run in the notifier's hub. Safe from any thread.

        Never runs the callback inline. Does not wait for the hub, except
        for flow control: from another thread, while more than 8,192 calls
        are queued to the hub, it steps aside (not holding the GIL) until the
        hub works them off, at most 0.1 s without progress (see
        ``call_soon_threadsafe``). Triggers that arrive before the callback runs may merge into one run:
        after every trigger the callback runs at least once, and it never
        runs without one.

        Raises:
            NotifierFreed: the notifier was freed or its hub destroyed.
        """
        lock = self._lock  # acquire()/release() rather than ``with``: see Dispatcher._wake()
        lock.acquire()
        try:
            if self._state is _FREED:
                raise NotifierFreed(f"{self!r} was freed; make a new notifier to be called again")
            if self._queued:
                return  # merges with the delivery already on its way
            self._queued = True
        finally:
            lock.release()
        try:
            self._dispatcher.submit(self._deliver, ())
        except HubClosed:
            self.free()
            raise NotifierFreed(
                f"the hub of {self!r} was destroyed, which freed it; make a new notifier in a live hub"
            ) from None

    def _deliver(self) -> None:
        # Hub thread, from the dispatcher. A free() that returned before we
        # took the lock wins. One that comes after finds _delivering held and
        # waits for the callback to finish: a foreign thread may free() just
        # as we let go of the lock and before the callback starts, and it
        # must not return into a world where the callback then runs.
        lock = self._lock  # as in trigger()
        lock.acquire()
        try:
            if self._state is _FREED:
                return
            self._queued = False
            callback, args, on_error = self._callback, self._args, self._on_error
            held = self._drop() if self._single_shot else False
            self._delivering.acquire()
        finally:
            lock.release()
        # The one lock held across user code: _delivering is what a foreign
        # free() waits on, so that none returns while the callback runs
        # (free()'s docstring warns of the deadlock a lock held across
        # free() would invite).
        try:
            if held:
                self._dispatcher.release()
            callback(*args)  # type: ignore[misc]
        except BaseException as exc:  # goes to on_error or the hub
            if on_error is None:
                raise  # the dispatcher reports it through hub.handle_error
            on_error(exc)
        finally:
            self._delivering.release()

    def free(self) -> None:
        """Free the notifier: drop its callback; pending triggers are dropped.

        Idempotent and safe from any thread. No callback starts after
        ``free()`` returned: called from another thread while the callback
        runs in the hub, it blocks that thread until the callback finishes;
        so that thread must not hold, as it frees, a lock the callback takes.
        """
        with self._lock:
            held = self._drop() if self._state is not _FREED else False
            delivering = self._delivering.locked()
        if held:
            self._dispatcher.release_from_any_thread()
        if delivering and not self._dispatcher.in_hub_thread():
            # See _deliver(): wait until the callback already under way is done.
            self._delivering.acquire()
            self._delivering.release()

    def _drop(self) -> bool:
        # Under self._lock. Returns whether the caller must release the hold.
        self._state = _FREED
        self._callback = None
        self._args = ()
        self._on_error = None
        held, self._held = self._held, False
        return held

    @property
    def ref(self) -> bool:
        """Whether the live notifier keeps its hub's loop alive. Any thread.

        Setting it to False lets ``gevent.wait()`` and ``gnotifier.run()``
        return while the notifier is live (cl-async's ``unref``).
        """
        return self._held

    @ref.setter
    def ref(self, value: bool) -> None:
        value = bool(value)
        with self._lock:
            if self._state is _FREED or value is self._held:
                return
            self._held = value
        if value:
            self._dispatcher.hold_from_any_thread()
        else:
            self._dispatcher.release_from_any_thread()

    def __enter__(self) -> Notifier:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.free()


def make_notifier(
    callback: Callable[[Unpack[Ts]], object],
    /,
    *args: Unpack[Ts],
    single_shot: bool = True,
    on_error: Callable[[BaseException], Any] | None = None,
    ref: bool = True,
) -> Notifier:
    """Make a ``Notifier`` (cl-async's ``make-notifier``); see ``Notifier``. Any thread with a hub.

    Returns:
        ``Notifier(callback, *args, single_shot=, on_error=, ref=)``, bound to
        the calling thread's hub.
    """
    return Notifier(callback, *args, single_shot=single_shot, on_error=on_error, ref=ref)
