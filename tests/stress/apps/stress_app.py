"""A WSGI app for the gunicorn stress test: a Pool made at import, in the master (``--preload``).

``GET /<anything>`` answers ``<sha256 of path * 1000> <worker pid>``; the
hashing runs on ``POOL``, a ``gnotifier.Pool(size=2)`` created before
gunicorn forks its workers.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any, Callable, Iterable

import gnotifier

POOL = gnotifier.Pool(size=2, name="stress-app")


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    data = environ["PATH_INFO"].encode() * 1000
    digest = POOL.work(hashlib.sha256, data).get(timeout=10).hexdigest()
    body = f"{digest} {os.getpid()}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
