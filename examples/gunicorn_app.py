"""A WSGI app for gunicorn's gevent worker that hashes passwords off the hub.

Install and run (``gunicorn[gevent]`` pulls in what ``-k gevent`` needs;
plain ``gunicorn`` fails there without ``packaging``)::

    python -m pip install "gunicorn[gevent]" .
    gunicorn -k gevent -w 2 -b 127.0.0.1:8000 --chdir examples gunicorn_app:app
    curl 'http://127.0.0.1:8000/hash?password=hunter2'
    curl 'http://127.0.0.1:8000/ping'

``gnotifier.work()`` runs ``hashlib.scrypt`` on a real thread of the
worker's hub (gunicorn's gevent worker has patched everything by then), so
``/ping`` keeps answering while hashes are computed.

``--preload`` is fine: import gnotifier at module level as here, but make
pools inside request handlers or in a ``post_fork`` hook, never at import
time. A pool made before the fork belongs to the master's hub, whose threads
do not survive into the workers. ``work()`` and ``default_pool()`` make
their pool on first use in each worker.

Sizing: hashing is CPU work that releases the GIL, so more threads than
cores only queue it. The default pool's throttle already runs one such job
per CPU; this app gives scrypt a ``Pool(size=os.cpu_count())`` of its own
anyway, so that hashes never hold the threads that other offloaded work
(a blocking driver, say) waits for.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Callable, Iterable
from urllib.parse import parse_qs

import gnotifier

SALT = b"a per-user salt, stored with the hash"
_pool: gnotifier.Pool | None = None


def hash_pool() -> gnotifier.Pool:
    """One pool per worker process, sized to the cores; made on first use."""
    global _pool
    if _pool is None:
        _pool = gnotifier.Pool(size=os.cpu_count() or 2, name="scrypt")
    return _pool


def scrypt(password: str) -> str:
    return hashlib.scrypt(password.encode(), salt=SALT, n=2**14, r=8, p=1).hex()


def app(environ: dict, start_response: Callable[..., object]) -> Iterable[bytes]:
    path = environ.get("PATH_INFO", "/")
    if path == "/ping":
        body = b"pong\n"
    elif path == "/hash":
        password = parse_qs(environ.get("QUERY_STRING", "")).get("password", ["secret"])[0]
        digest = hash_pool().work(scrypt, password).get()  # this greenlet waits; the hub does not
        body = json.dumps({"scrypt": digest}).encode() + b"\n"
    else:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"try /hash?password=... or /ping\n"]
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


if __name__ == "__main__":
    # Without gunicorn: the same app behind gevent's own WSGI server.
    from gevent import monkey

    monkey.patch_all()
    from gevent.pywsgi import WSGIServer

    print("serving on http://127.0.0.1:8000/ (try /hash?password=hunter2 and /ping)", flush=True)
    WSGIServer(("127.0.0.1", 8000), app, log=None).serve_forever()
