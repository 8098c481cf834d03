# Following: settling one promise as another awaitable settles.
#
# A promise resolved with, or a chain callback returning, an AsyncResult or
# a concurrent.futures.Future follows it. An AsyncResult is followed with a
# rawlink in the hub; a Future completes in some other thread, so its
# outcome comes back through the dispatcher.
#
# Guarantees:
# - The follower settles exactly as its source did, later, in hub context,
#   over any number of hops (each hop is one rawlink; nothing recurses).
# - A Future's done-callback never touches the hub: it only queues the
#   outcome, and the hub stays alive until the outcome arrives.
# - A follower cancelled (settled) meanwhile is left as it is: nothing here
#   settles a promise that is already settled (resolve(), reject()).
# - A promise made to follow itself is rejected with TypeError (as
#   Promises/A+ says) instead of waiting forever.
# - Futures of gevent's own ThreadPoolExecutor (proxies, not Future
#   subclasses) are followed as futures are.
# - Cancelling a follower rejects only the follower. A followed AsyncResult
#   may be shared (``Promise.resolved(src)``), so it is never cancelled
#   through a follower; a followed Future is, if it has not started.
#
# Assumptions:
# - Followers are gnotifier promises (slots ``_following``, ``_job``),
#   used in their hub's thread; sources may be any AsyncResult or Future.
from __future__ import annotations

import concurrent.futures
from typing import Any, Callable

from gevent.event import AsyncResult
from gevent.hub import get_hub

from ._dispatch import Dispatcher, dispatcher_for
from ._errors import Cancelled
from ._gevent import FUTURE_PROXY, get_hub_if_exists

__all__ = [
    "AWAITABLES",
    "FUTURES",
    "ar_exception",
    "ar_set",
    "ar_set_exception",
    "copy_outcome",
    "follow",
    "follow_future",
    "link_later",
    "reject",
    "resolve",
]

# What a promise follows: futures complete in another thread; gevent's
# ThreadPoolExecutor hands out proxies that behave like futures.
FUTURES: tuple[type, ...] = (
    (concurrent.futures.Future,) if FUTURE_PROXY is None else (concurrent.futures.Future, FUTURE_PROXY)
)
AWAITABLES: tuple[type, ...] = (AsyncResult, *FUTURES)

# The AsyncResult primitives, called past Promise's checked overrides by the
# machinery that has already checked.
ar_exception = AsyncResult.exception
ar_set = AsyncResult.set
ar_set_exception = AsyncResult.set_exception


def link_later(source: AsyncResult[Any], callback: Callable[[AsyncResult[Any]], Any]) -> None:
    """``source.rawlink(callback)``, made sure to call back later in hub context.

    With no hub in the thread, gevent would call an already settled source's
    links synchronously; making the hub first prevents that. Hub thread.
    """
    if get_hub_if_exists() is None:
        get_hub()
    source.rawlink(callback)


def resolve(target: AsyncResult[Any], value: Any) -> None:
    """Resolve ``target`` with ``value`` unless it is settled (cancelled meanwhile). Hub thread."""
    if not target.ready():
        ar_set(target, value)


def reject(target: AsyncResult[Any], exc: BaseException) -> None:
    """Reject ``target`` with ``exc`` unless it is settled (cancelled meanwhile). Hub thread."""
    if not target.ready():
        ar_set_exception(target, exc)


def copy_outcome(target: AsyncResult[Any], source: AsyncResult[Any]) -> None:
    """Settle ``target`` as ``source`` settled, unless it is settled already. Hub thread."""
    exc = ar_exception.__get__(source)
    if exc is None:
        resolve(target, source.value)
    else:
        reject(target, exc)


def follow(promise: Any, source: Any) -> None:
    """Settle ``promise`` as ``source`` (AsyncResult or Future) settles. Hub thread."""
    if source is promise:
        reject(promise, TypeError(f"{promise!r} cannot be resolved with itself: it would wait for itself forever"))
        return
    promise._following = True
    if isinstance(source, FUTURES):
        follow_future(promise, source)
        return
    try:
        source._observed = True  # a gnotifier promise: its error is now ours to report
    except AttributeError:
        pass
    link_later(source, _Adopt(promise))


class _Adopt:
    # rawlink callback: copy the source's outcome into the follower.
    __slots__ = ("promise",)

    def __init__(self, promise: Any) -> None:
        self.promise = promise

    def __call__(self, source: AsyncResult[Any]) -> None:
        promise, self.promise = self.promise, None
        if promise.ready():
            return  # cancelled while following
        promise._following = False
        promise._job = None
        copy_outcome(promise, source)


def follow_future(promise: Any, future: Any) -> None:
    """Settle ``promise`` as ``future`` completes, in any thread. Hub thread.

    Cancelling the promise cancels the future if it has not started.
    """
    dispatcher = dispatcher_for(get_hub())
    promise._following = True
    promise._job = future
    dispatcher.hold()

    def done(fut: concurrent.futures.Future[Any]) -> None:
        # Any thread (the future's); runs once.
        dispatcher.submit_if_open(_settle_from_future, (dispatcher, promise, fut))

    future.add_done_callback(done)


def _settle_from_future(dispatcher: Dispatcher, promise: Any, future: concurrent.futures.Future[Any]) -> None:
    # Hub thread, through the dispatcher.
    dispatcher.release()
    promise._following = False
    promise._job = None
    if future.cancelled():
        reject(promise, Cancelled(f"the future {future!r} was cancelled"))
        return
    exc = future.exception()
    if exc is None:
        resolve(promise, future.result())
    else:
        reject(promise, exc)
