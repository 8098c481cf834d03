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
import sys
from typing import TYPE_CHECKING, Callable

from gevent.monkey import get_original

if TYPE_CHECKING:
    from _thread import _local as thread_local
    from _thread import allocate_lock, get_ident, start_new_thread
    from queue import SimpleQueue
    from time import sleep
else:
    get_ident = get_original("_thread", "get_ident")
    allocate_lock = get_original("_thread", "allocate_lock")
    start_new_thread = get_original("_thread", "start_new_thread")
    thread_local = get_original("_thread", "_local")
    SimpleQueue = get_original("queue", "SimpleQueue")
    sleep = get_original("time", "sleep")

Empty = queue.Empty


def _load_pthread_naming() -> tuple[Callable[[str], None], Callable[[], str]] | None:
    # pthread_setname_np/getname_np where the platform has them (Linux);
    # names there are limited to 15 bytes. Looked up in what the process has
    # loaded (glibc 2.34 and later, musl), else in libpthread by its soname:
    # not with ctypes.util.find_library, which runs ldconfig in a subprocess
    # (after patch_all(), a fork that runs fork hooks in the middle of the import).
    try:
        import ctypes
    except ImportError:
        return None
    for library in (None, "libpthread.so.0"):
        try:
            found = ctypes.CDLL(library)
            setname, getname, self_ = found.pthread_setname_np, found.pthread_getname_np, found.pthread_self
            break
        except (OSError, AttributeError):
            continue
    else:
        return None
    self_.restype = ctypes.c_void_p
    setname.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    getname.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]

    def set_name(name: str) -> None:
        setname(self_(), _fit(name.encode("utf-8", "replace")))

    def get_name() -> str:
        buffer = ctypes.create_string_buffer(16)
        getname(self_(), buffer, len(buffer))
        return buffer.value.decode("utf-8", "replace")

    return set_name, get_name


def _fit(name: bytes, limit: int = 15) -> bytes:
    # Cut a long name from the middle of its prefix, keeping a "-<n>" suffix
    # whole, so that a pool's threads stay apart: "image-resizer-pool-12" is "image-resize-12".
    if len(name) <= limit:
        return name
    head, dash, number = name.rpartition(b"-")
    if not (dash and number.isdigit() and len(number) < limit - 1):
        return name[:limit]
    return head[: limit - 1 - len(number)] + dash + number


_pthread_naming = _load_pthread_naming() if sys.platform.startswith("linux") else None


def set_os_thread_name(name: str) -> str | None:
    """Name the calling OS thread where the platform allows; returns the old name."""
    if _pthread_naming is None:
        return None
    set_name, get_name = _pthread_naming
    old = get_name()
    set_name(name)
    return old


__all__ = [
    "Empty",
    "SimpleQueue",
    "allocate_lock",
    "get_ident",
    "set_os_thread_name",
    "sleep",
    "start_new_thread",
    "thread_local",
]
