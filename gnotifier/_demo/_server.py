"""The server process: ``python -c COMMAND PORT``, started by the runner in a process group of its own.

``COMMAND`` monkey-patches first, then serves ``_app`` with ``gevent.pywsgi``
on 127.0.0.1:PORT (0: any free port), TCP_NODELAY on every connection. Once
its pools are up and it listens, it prints ``port N`` on stdout. SIGTERM
stops it; SIGINT (KeyboardInterrupt) too.
"""

from __future__ import annotations

import signal
import socket
import sys
from typing import Any, List

import gevent
from gevent.pywsgi import WSGIServer

from . import _app

COMMAND = """\
from gevent import monkey
monkey.patch_all()
import sys
from gnotifier._demo._server import serve
sys.exit(serve(int(sys.argv[1])))
"""


def command(port: int) -> List[str]:
    return [sys.executable, "-c", COMMAND, str(port)]


class _NoDelayServer(WSGIServer):
    def handle(self, sock: Any, address: Any) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().handle(sock, address)


def serve(port: int) -> int:
    """Serve until SIGTERM or SIGINT; the caller has patched."""
    server = _NoDelayServer(("127.0.0.1", port), _app.app, log=None)
    _app.start()
    try:
        server.start()
        gevent.signal_handler(signal.SIGTERM, server.stop, 0.5)
        print(f"port {server.server_port}", flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop(0.5)
        _app.stop()
    return 0
