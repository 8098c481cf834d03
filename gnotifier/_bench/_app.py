"""The WSGI app of scenario S, served by gunicorn's gevent worker or a patched ``gevent.pywsgi``.

Runs in the server process, one greenlet per request, its hub monkey-patched.
``/hash`` sha256-hashes 8 MiB on a real thread, through ``gnotifier.work``
or gevent's ``hub.threadpool.spawn`` as ``GNOTIFIER_BENCH_OFFLOAD`` says
(``gnotifier`` or ``gevent``); ``/ping`` answers at once.
"""

from __future__ import annotations

import os
import socket
from typing import Any, Callable, Iterable, cast

import gevent
from gevent.pywsgi import WSGIServer

import gnotifier

from ._jobs import digest

DATA = bytes(8 << 20)  # made once, at import
OFFLOAD = os.environ.get("GNOTIFIER_BENCH_OFFLOAD", "gnotifier")
if OFFLOAD not in ("gnotifier", "gevent"):
    raise ValueError(f"GNOTIFIER_BENCH_OFFLOAD must be gnotifier or gevent, not {OFFLOAD!r}")


def _hash() -> bytes:
    if OFFLOAD == "gevent":
        return cast(bytes, gevent.get_hub().threadpool.spawn(digest, DATA).get())
    return gnotifier.work(digest, DATA).get()


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    path = environ["PATH_INFO"]
    if path == "/hash":
        body = _hash().hex().encode()
    elif path == "/ping":
        body = b"pong"
    else:
        start_response("404 Not Found", [("Content-Length", "0")])
        return [b""]
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


class _NoDelayServer(WSGIServer):
    def handle(self, sock: Any, address: Any) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().handle(sock, address)


def serve(port: int, shared: bool = False) -> None:
    """Serve ``app`` on 127.0.0.1:``port`` with pywsgi, TCP_NODELAY on every connection; the caller
    patched. With ``shared``, other processes serve the same port (SO_REUSEPORT) beside this one."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if shared:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(128)
    _NoDelayServer(listener, app, log=None).serve_forever()
