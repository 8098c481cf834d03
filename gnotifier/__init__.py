"""gnotifier: cl-async's notifiers and threaded background work for gevent.

A *notifier* waits in a hub until any OS thread triggers it; its callback
then runs in the hub's thread. ``work(fn)`` runs ``fn`` on a real OS thread
of the hub's native threadpool (also after ``gevent.monkey.patch_all()``)
and hands back a ``Promise``: a ``gevent.event.AsyncResult`` that greenlets
``get()`` and that chains.
"""

from __future__ import annotations

from . import (
    _build,  # first: it decides which build of the modules below is imported
    _dispatch,
)
from ._combinators import aeach as aeach
from ._combinators import afilter as afilter
from ._combinators import amap as amap
from ._combinators import areduce as areduce
from ._dispatch import HubStats as HubStats
from ._dispatch import hub_stats as hub_stats
from ._errors import AlreadySettled as AlreadySettled
from ._errors import Cancelled as Cancelled
from ._errors import HubClosed as HubClosed
from ._errors import NotifierFreed as NotifierFreed
from ._errors import PoolClosed as PoolClosed
from ._errors import PoolFull as PoolFull
from ._loop import Timer as Timer
from ._loop import delay as delay
from ._loop import interval as interval
from ._loop import run as run
from ._notifier import Notifier as Notifier
from ._notifier import make_notifier as make_notifier
from ._pool import Pool as Pool
from ._pool import PoolStats as PoolStats
from ._pool import default_pool as default_pool
from ._pool import work as work
from ._processes import ProcessPoolExecutor as ProcessPoolExecutor
from ._promise import Promise as Promise
from ._queue import Queue as Queue
from ._queue import ShutDown as ShutDown
from ._threads import Thread as Thread
from ._threads import call_in_hub as call_in_hub
from ._threads import call_soon_threadsafe as call_soon_threadsafe
from ._threads import start_thread as start_thread
from ._threadsafe import ThreadsafePromise as ThreadsafePromise
from ._worker import check_cancelled as check_cancelled

__version__ = "0.1.0"

# Whether the hot modules run compiled (Cython) or as pure Python.
_compiled = _build.is_compiled(_dispatch)

__all__ = (
    "AlreadySettled",
    "Cancelled",
    "HubClosed",
    "HubStats",
    "Notifier",
    "NotifierFreed",
    "Pool",
    "PoolClosed",
    "PoolFull",
    "PoolStats",
    "ProcessPoolExecutor",
    "Promise",
    "Queue",
    "ShutDown",
    "Thread",
    "ThreadsafePromise",
    "Timer",
    "aeach",
    "afilter",
    "amap",
    "areduce",
    "call_in_hub",
    "call_soon_threadsafe",
    "check_cancelled",
    "default_pool",
    "delay",
    "hub_stats",
    "interval",
    "make_notifier",
    "run",
    "start_thread",
    "work",
)

# Reprs and docs say gnotifier.X, not the private module that defines it.
for _name in __all__:
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith("gnotifier._"):
        try:
            _obj.__module__ = __name__
        except (AttributeError, TypeError):
            pass
del _name, _obj
