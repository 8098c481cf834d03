"""The real OS-thread primitives, also after ``gevent.monkey.patch_all()``.

``patch_all()`` turns ``threading`` and ``_thread`` into greenlet-based
imitations. gnotifier's worker threads, its cross-thread locks and its
thread identity checks need the genuine ones, so every module takes them
from here. ``get_original`` returns the unpatched object whether or not
patching has happened yet, so importing gnotifier before or after
``patch_all()`` gives the same result.
"""

from __future__ import annotations

import queue
from typing import TYPE_CHECKING

from gevent.monkey import get_original

if TYPE_CHECKING:
    from _thread import _local as thread_local
    from _thread import allocate_lock, get_ident, start_new_thread
    from queue import SimpleQueue
else:
    get_ident = get_original("_thread", "get_ident")
    allocate_lock = get_original("_thread", "allocate_lock")
    start_new_thread = get_original("_thread", "start_new_thread")
    thread_local = get_original("_thread", "_local")
    SimpleQueue = get_original("queue", "SimpleQueue")

Empty = queue.Empty

__all__ = [
    "Empty",
    "SimpleQueue",
    "allocate_lock",
    "get_ident",
    "start_new_thread",
    "thread_local",
]
