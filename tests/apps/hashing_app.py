"""A WSGI app that hashes on a worker thread, for the server tests."""

from __future__ import annotations

import hashlib
import threading
from typing import Any, Callable, Iterable

import gnotifier


def hash_on_a_thread(data: bytes) -> tuple[str, str]:
    return hashlib.sha256(data).hexdigest(), threading.current_thread().name


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    data = environ["PATH_INFO"].encode() * 1000
    digest, thread_name = gnotifier.work(hash_on_a_thread, data).get()
    body = f"{digest} {thread_name}\n".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
