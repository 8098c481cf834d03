# gevent's private parts that gnotifier relies on, all in one place.
#
# Everything here leans on gevent internals that are stable from gevent
# 24.10 to 26.x; tests/test_gevent_compat.py pins each assumption, so a new
# gevent release that changes one breaks that test first, not the library.
#
# Assumptions:
# - gevent._hub_local.get_hub_if_exists() returns the calling thread's hub
#   without making one.
# - A gevent ThreadPool runs tasks put on its ``task_queue`` as
#   ``(func, args, kwargs, result)`` tuples, where ``result`` gets ``set()``
#   or ``handle_error()``; ``adjust()`` starts threads for them and must run
#   in the pool's hub thread. Going around ``spawn()`` means no per-task
#   watcher keeps the loop alive while a worker loop merely waits for jobs.
# - ``ThreadPool._on_fork()`` resets a pool in a forked child once (its
#   ``pid`` tells whether it already did) and replaces its ``fork_watcher``.
#   On libuv that old watcher, left to the garbage collector, frees a handle
#   the loop still lists; closing it first avoids that. Its ``close()``
#   alone leaves a simulated libuv fork watcher registered; ``stop()`` takes
#   it out, and is allowed after ``close()`` on every loop.
# - ``ThreadPool.kill()`` waits for the threads when called in a greenlet,
#   and only asks them to go in hub context.
# - A hub keeps its threadpool in ``_threadpool`` (None until first used).
# - gevent's ThreadPoolExecutor hands out ``_FutureProxy`` objects that
#   behave like concurrent.futures.Future without subclassing it. Their
#   ``exception()`` raises the error rather than return it; the
#   ``AsyncResult`` behind one, its ``asyncresult``, holds the very error.
# - Every hub is destroyed through ``Hub.destroy``, looked up on the class.
# - The compiled libev loop (``gevent.libev.corecext``, the default on
#   Linux) keeps the GIL while ``async_().send()`` wakes the loop; the
#   cffi loops (libev-cffi, libuv) let go of it around the C call. This
#   one only decides speed, not correctness, and is not pinned: woken by
#   200 sends from a thread, the hub slept 235-378 times on the compiled
#   loop and 202-208 times on the cffi loops, but on a busy machine the
#   compiled loop's count fell to 203-218.
from __future__ import annotations

import os
from typing import Any, Callable

from gevent import threadpool as _threadpool_module
from gevent._hub_local import get_hub_if_exists
from gevent.hub import Hub
from gevent.threadpool import ThreadPool

__all__ = [
    "FUTURE_PROXY",
    "async_send_keeps_gil",
    "before_hub_destroy",
    "get_hub_if_exists",
    "hub_threadpool_if_made",
    "kill_threadpool",
    "proxy_error",
    "reset_threadpool_in_child",
    "retire_fork_watcher",
    "run_on_threadpool",
]

# gevent's future proxy class, or None if this gevent has none.
FUTURE_PROXY: type | None = getattr(_threadpool_module, "_FutureProxy", None)


def proxy_error(future: Any) -> BaseException | None:
    """The error of a done future of gevent's ThreadPoolExecutor, or None. Any thread."""
    return future.asyncresult.exception  # type: ignore[no-any-return]


class _TaskSink:
    # Stands in for the ThreadResult a gevent worker reports a task's end to.
    # Our tasks catch everything themselves, so these see only the return.
    __slots__ = ()

    def set(self, value: object) -> None:
        pass

    def handle_error(self, context: object, exc_info: Any) -> None:
        pass


_SINK = _TaskSink()


def run_on_threadpool(threadpool: ThreadPool, fn: Callable[..., Any], *args: Any) -> None:
    """Run ``fn(*args)`` as one task of ``threadpool``, with no watcher behind it.

    Must be called in the pool's hub thread. ``fn`` must catch its own
    errors: nothing reports them.
    """
    threadpool.task_queue.put((fn, args, {}, _SINK))  # type: ignore[arg-type]  # the sink stands in
    threadpool.adjust()


def reset_threadpool_in_child(threadpool: ThreadPool) -> None:
    """Reset ``threadpool`` in a forked child now, not some loop turns later.

    gevent resets a pool from a fork watcher, dropping any task queued
    before; resetting it at once keeps tasks queued from now on. Its own pid
    check makes gevent's later call (and a second call here) a no-op.
    """
    retire_fork_watcher(threadpool)
    threadpool._on_fork()  # type: ignore[attr-defined]


def retire_fork_watcher(threadpool: ThreadPool | None) -> None:
    """Close the fork watcher a child's reset of ``threadpool`` will replace.

    Call in a forked child before the reset (gevent's ``reinit()`` resets
    ``hub.threadpool``): left to the garbage collector, the old watcher
    frees its handle while the libuv loop still lists it (valgrind: invalid
    writes in uv_async_init and uv__async_fork, then a crash in
    uv__async_io). Does nothing for a pool already reset in this process.
    """
    if threadpool is None or threadpool.pid == os.getpid():
        return
    watcher = threadpool.fork_watcher
    if watcher is not None:
        watcher.stop()  # on libuv, close() alone leaves it registered
        watcher.close()


def async_send_keeps_gil(loop: Any) -> bool:
    """Whether ``loop.async_().send()`` holds the GIL while it wakes the loop.

    A hub woken that way must then wait for the sending thread to let go of
    the GIL before it can run anything.
    """
    return type(loop).__module__ == "gevent.libev.corecext"


class _SpentWatcher:
    """The fork watcher of a killed ThreadPool: starting, stopping and closing it do nothing."""

    __slots__ = ()

    def start(self, *args: Any) -> None:
        pass

    def stop(self) -> None:
        pass

    def close(self) -> None:
        pass


def kill_threadpool(threadpool: ThreadPool) -> None:
    """Let ``threadpool``'s threads go once idle, and free it from its loop.

    Must run in hub context, where kill() does not wait. Without stopping
    its fork watcher, the loop would keep the pool alive for good. A worker
    that leaves afterwards while others' stop signals are still queued asks
    the hub to ``adjust()`` the pool, which starts the fork watcher again:
    closed, it raises there on the cffi loops and libuv; started, it would
    keep the pool alive. So the pool gets one that does nothing.
    """
    threadpool.kill()
    threadpool.fork_watcher.stop()
    threadpool.fork_watcher = _SpentWatcher()  # type: ignore[assignment]  # start, stop and close are all it needs


def hub_threadpool_if_made(hub: Hub) -> ThreadPool | None:
    """``hub.threadpool`` if the hub has made one; the property would make it."""
    return getattr(hub, "_threadpool", None)


def before_hub_destroy(hook: Callable[[Hub], None]) -> None:
    """Call ``hook(hub)`` in every ``hub.destroy()``, before gevent tears the loop down.

    Installs one wrapper on the ``Hub`` class; call it once, at import.
    """
    original = Hub.destroy

    def destroy(hub: Hub, destroy_loop: bool | None = None) -> None:
        hook(hub)
        original(hub, destroy_loop)

    destroy.__doc__ = original.__doc__
    Hub.destroy = destroy  # type: ignore[method-assign,assignment]
