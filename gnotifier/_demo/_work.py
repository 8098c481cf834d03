"""The work behind ``/work/<kind>``: blocking or CPU work of about 10-50 ms a call.

Module-level functions, so that ``spin`` pickles for the process pool (whose
workers import this module, not the server's). ``KINDS`` maps each kind to
its function and a description; only ``PROCESS_KINDS`` go to processes.
The password hash is scrypt where OpenSSL provides it, else PBKDF2 (the
kind is then called ``pbkdf2``).
"""

from __future__ import annotations

import hashlib
import os
import random
import zlib
from typing import Callable, Dict, List, Tuple

from gevent import monkey

# The real, blocking time.sleep, also after patch_all(): a C driver's call blocks like this.
_blocking_sleep: Callable[[float], None] = monkey.get_original("time", "sleep")

CPUS = os.cpu_count() or 1  # the size of the demo's Pool and of its process pool
SCRYPT_N = 1 << 14  # 16 MiB of memory a hash, ~40 ms
PBKDF2_ROUNDS = 100_000  # where scrypt is missing
ZLIB_BYTES = 4 << 20  # compressed at level 1, ~25 ms
SLEEP_SECONDS = 0.02
SPIN_LOOPS = 400_000  # ~20 ms of pure Python


def _log_lines(size: int) -> bytes:
    """``size`` bytes of made-up JSON log lines: compressible, not trivially."""
    rnd = random.Random(0)
    lines: List[bytes] = []
    total = 0
    while total < size:
        line = b'{"id": %d, "user": "user%d", "path": "/item/%d", "ms": %.3f}\n' % (
            len(lines),
            rnd.randrange(10_000),
            rnd.randrange(1_000_000),
            rnd.random() * 100,
        )
        lines.append(line)
        total += len(line)
    return b"".join(lines)[:size]


_DATA: bytes = b""


def prepare() -> None:
    """Make the bytes ``compress`` works on (once, ~0.1 s); the server calls it at startup."""
    global _DATA
    if not _DATA:
        _DATA = _log_lines(ZLIB_BYTES)


def password_hash(counter: int) -> str:
    """Hash a password with scrypt, else PBKDF2 (OpenSSL; the GIL is released while it runs)."""
    password, salt = b"correct horse battery staple %d" % counter, b"gnotifier-demo"
    if hasattr(hashlib, "scrypt"):
        key = hashlib.scrypt(password, salt=salt, n=SCRYPT_N, r=8, p=1)
    else:
        key = hashlib.pbkdf2_hmac("sha256", password, salt, PBKDF2_ROUNDS)
    return key.hex()[:16]


def compress(counter: int) -> str:
    """zlib-compress 4 MiB that start with a varying byte (the GIL is released while it runs)."""
    prepare()
    deflate = zlib.compressobj(1)
    size = len(deflate.compress(bytes([counter & 0xFF]))) + len(deflate.compress(_DATA)) + len(deflate.flush())
    return f"{ZLIB_BYTES} -> {size} bytes"


def blocking_call(counter: int) -> str:
    """A driver call that blocks its OS thread for 20 ms (the real time.sleep, even when patched)."""
    _blocking_sleep(SLEEP_SECONDS)
    return f"slept {SLEEP_SECONDS * 1e3:.0f} ms"


def spin(counter: int) -> str:
    """Pure-Python CPU work: it holds the GIL all along."""
    total = counter
    for i in range(SPIN_LOOPS):
        total += i * i % 7
    return str(total)


#: kind -> (function, what it does)
HASH_KIND, HASH_WHAT = (
    ("scrypt", "hashlib.scrypt, n=2**14") if hasattr(hashlib, "scrypt") else ("pbkdf2", "pbkdf2_hmac, 100k rounds")
)
KINDS: Dict[str, Tuple[Callable[[int], str], str]] = {
    HASH_KIND: (password_hash, HASH_WHAT),
    "zlib": (compress, "zlib level 1 over 4 MiB"),
    "sleep": (blocking_call, "a 20 ms blocking call"),
    "cpu": (spin, "a pure-Python loop"),
}
PROCESS_KINDS = ("cpu",)
MODES = ("inline", "work", "pool", "process")


def modes(kind: str) -> Tuple[str, ...]:
    """The modes ``kind`` runs in: process only for pure-Python CPU work."""
    return MODES if kind in PROCESS_KINDS else MODES[:3]
