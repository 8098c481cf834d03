# Settling and following: how machinery outside Promise settles one.
#
# A promise settles in exactly one way, ``Promise._settle(outcome)``, and
# follows another awaitable in exactly one way, ``Promise._follow(source)``;
# the links, combinators and pools reach them only through settle(),
# follow() and watch() here. An AsyncResult is followed with a rawlink in
# the hub; a concurrent.futures.Future completes in some other thread, so
# its outcome comes back through the dispatcher (when_done(), which the
# executor pools use as well).
#
# Guarantees:
# - A future's done-callback never touches the hub: it only queues the
#   call, and the hub stays alive until the outcome is delivered.
# - settle() leaves a settled promise alone (one cancelled meanwhile).
# - Futures of gevent's own ThreadPoolExecutor (proxies, not Future
#   subclasses) count as futures.
#
# Assumptions:
# - Targets are gnotifier promises, used in their hub's thread; sources may
#   be any AsyncResult or Future.
from __future__ import annotations

import concurrent.futures
from typing import Any, Callable

from gevent.event import AsyncResult
from gevent.hub import get_hub

from ._dispatch import Dispatcher, dispatcher_for
from ._gevent import FUTURE_PROXY, get_hub_if_exists
from ._outcome import Outcome, from_future

__all__ = ["AWAITABLES", "FUTURES", "follow", "link_later", "settle", "watch", "when_done"]

# What a promise follows: futures complete in another thread; gevent's
# ThreadPoolExecutor hands out proxies that behave like futures.
FUTURES: tuple[type, ...] = (
    (concurrent.futures.Future,) if FUTURE_PROXY is None else (concurrent.futures.Future, FUTURE_PROXY)
)
AWAITABLES: tuple[type, ...] = (AsyncResult, *FUTURES)


def settle(target: Any, outcome: Outcome) -> None:
    """Settle the promise ``target`` with ``outcome``, unless it is settled already. Hub thread."""
    target._settle(outcome)


def follow(target: Any, source: Any) -> None:
    """Settle the promise ``target`` as ``source`` (AsyncResult or Future) settles. Hub thread."""
    target._follow(source)


def watch(source: AsyncResult[Any], callback: Callable[[AsyncResult[Any]], Any]) -> None:
    """``link_later(source, callback)``, taking over ``source``'s outcome: its error is ours to report. Hub thread."""
    observe = getattr(source, "_observe", None)  # a gnotifier promise
    if observe is not None:
        observe()
    link_later(source, callback)


def link_later(source: AsyncResult[Any], callback: Callable[[AsyncResult[Any]], Any]) -> None:
    """``source.rawlink(callback)``, made sure to call back later in hub context.

    With no hub in the thread, gevent would call an already settled source's
    links synchronously; making the hub first prevents that. Hub thread.
    """
    if get_hub_if_exists() is None:
        get_hub()
    source.rawlink(callback)


def when_done(future: Any, deliver: Callable[..., Any], *args: Any) -> None:
    """Call ``deliver(*args, outcome)`` in hub context once ``future`` is done.

    Hub thread. The future may complete in any thread; its done-callback
    only queues the call. The hub stays alive until the outcome is delivered.
    """
    dispatcher = dispatcher_for(get_hub())
    dispatcher.hold()

    def done(fut: concurrent.futures.Future[Any]) -> None:
        # Any thread (the future's, or ours if already done); runs once.
        dispatcher.submit_if_open(_deliver, (dispatcher, fut, deliver, args))

    future.add_done_callback(done)


def _deliver(dispatcher: Dispatcher, future: Any, deliver: Callable[..., Any], args: tuple[Any, ...]) -> None:
    # Hub thread, through the dispatcher.
    dispatcher.release()
    deliver(*args, from_future(future))
