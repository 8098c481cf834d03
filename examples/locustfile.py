"""A Locust load test whose users sign every request off the hub, with work().

    python -m pip install locust .
    python examples/gunicorn_app.py   # serves /ping on port 8000; see there for gunicorn
    locust -f examples/locustfile.py --headless -u 50 -r 10 -t 1m --host http://127.0.0.1:8000

Locust runs every simulated user as a greenlet of one gevent hub, after
patching everything. Signing a request (a key derivation here, standing in
for an RSA or HMAC signature over a large body) inline would stall every
user at once; ``pool.work(sign, ...).get()`` runs it on a real thread while
only this user's greenlet waits. The pool is shut down when Locust quits.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from locust import HttpUser, between, events, task

import gnotifier

KEY = os.urandom(32)
_pool: gnotifier.Pool | None = None


def signing_pool() -> gnotifier.Pool:
    """Made on first use, in the hub's thread of the process that runs the users."""
    global _pool
    if _pool is None:
        _pool = gnotifier.Pool(size=os.cpu_count() or 2, name="signer")
    return _pool


def sign(message: bytes) -> str:
    """CPU work that releases the GIL: about 10 ms of PBKDF2."""
    return hashlib.pbkdf2_hmac("sha256", message, KEY, 20_000).hex()


class SigningUser(HttpUser):
    wait_time = between(0.01, 0.05)

    @task
    def signed_ping(self) -> None:
        message = os.urandom(64)
        signature = signing_pool().work(sign, message).get()
        self.client.get("/ping", headers={"X-Signature": signature})


@events.quitting.add_listener
def shut_the_pool_down(environment: Any, **kwargs: Any) -> None:
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_pending=True)  # no new signing; what runs finishes
        print(f"signed {_pool.stats()['completed']} requests off the hub; pool shut down", flush=True)
