"""Forks: the child's hub and pools work, and never take the parent's wakeups or jobs.

Each case runs in a subprocess (forking the test runner would fork its
threads' state too), on the gevent loop of the tox env. After a raw
os.fork(), plain and under ``monkey.patch_all()``, parent and child both
offload work at the same time: until the child's loop is re-initialised
they would share its wakeup fd (and, on libuv, its epoll instance), and
each would take the other's wakeups. A pool busy at the fork (os.fork or
gevent.fork) starts fresh in the child; the parent's jobs run once, there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ROUNDS = 500  # work() round trips on each side of the fork, at the same time


def run_script(script: str, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run ``script`` in a fresh interpreter with ``args``; its output as text."""
    return subprocess.run(
        [sys.executable, "-W", "ignore::DeprecationWarning", "-c", script, *args],
        timeout=timeout,
        capture_output=True,
        text=True,
    )


FORK_SCRIPT = """\
import os, sys
if sys.argv[1] == "patched":
    from gevent import monkey
    monkey.patch_all()
ROUNDS = int(sys.argv[3])
from_hook = []


def hook():
    import gnotifier

    from_hook.append(gnotifier.work(str, "from the hook"))


if sys.argv[2] == "work-in-early-fork-hook":
    # Registered before gnotifier is imported: it runs before gnotifier's own hooks.
    os.register_at_fork(after_in_child=hook)
import gnotifier

if sys.argv[2] == "work-in-fork-hook":
    # Registered after gnotifier's own hooks, as a user's usually is.
    os.register_at_fork(after_in_child=hook)


def round_trips(side):
    for i in range(ROUNDS):
        if gnotifier.work(int, i).get(timeout=5) != i:
            raise AssertionError(f"{side}: wrong value")


def main():
    gnotifier.work(int, 0).get(timeout=5)  # the default pool has a thread
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        try:
            report = from_hook[0].get(timeout=5) + ", " if from_hook else ""
            round_trips("child")
            report += "child ok"
        except BaseException as exc:
            report = f"child failed: {exc!r}"
        os.write(write_end, report.encode())
        os._exit(0)
    os.close(write_end)
    try:
        round_trips("parent")
        print("parent ok", flush=True)
    except BaseException as exc:
        print(f"parent failed: {exc!r}", flush=True)
    with os.fdopen(read_end, "rb") as pipe:
        print(pipe.read().decode(), flush=True)
    os.waitpid(pid, 0)


gnotifier.run(main)
"""


@pytest.mark.parametrize("hook", ["no-hook", "work-in-fork-hook", "work-in-early-fork-hook"])
@pytest.mark.parametrize("patching", ["plain", "patched"])
def test_raw_fork_child_and_parent_both_keep_their_wakeups(patching: str, hook: str) -> None:
    # Regression: after a raw os.fork() the parent's work().get() timed out
    # while the child used work() too (every loop), the child hung on libuv,
    # and work() inside an after_in_child hook hung (gevent#2023).
    result = run_script(FORK_SCRIPT, patching, hook, str(ROUNDS), timeout=90)
    child = "child ok" if hook == "no-hook" else "from the hook, child ok"
    assert (result.returncode, result.stdout.splitlines()) == (0, ["parent ok", child]), result.stderr


PRELOAD_SCRIPT = """\
import os
import gevent.hub
import gnotifier

POOL = gnotifier.Pool(size=2)  # made before the fork and never used there, as under gunicorn --preload
pid = os.fork()
if pid == 0:
    gevent.hub.reinit()  # what gunicorn's gevent worker does once forked

    def main():
        for i in range(300):
            assert POOL.work(int, i).get(timeout=5) == i

    try:
        gnotifier.run(main)
        os.write(1, b"child ok\\n")
    finally:
        os._exit(0)
_, status = os.waitpid(pid, 0)
print("child status", status)
"""


def test_pool_made_before_a_fork_works_in_the_child_after_a_second_reinit() -> None:
    # Regression (libuv): the child replaced the never-started fork watcher
    # of the pool's ThreadPool and left the old one to the garbage
    # collector, which freed its handle while the loop still listed it;
    # workers of gunicorn --preload crashed in uv__async_io.
    result = run_script(PRELOAD_SCRIPT, timeout=90)
    assert (result.returncode, result.stdout.splitlines()) == (0, ["child ok", "child status 0"]), result.stderr


# -- pools across a fork -------------------------------------------------------------------


FORK_CHILD = """\
import json, os, sys, threading
import gevent, gnotifier

fork = os.fork if sys.argv[1] == "os.fork" else gevent.fork
pool = gnotifier.Pool(size=1)
gate, started = threading.Event(), threading.Event()
pipe_out, pipe_in = os.pipe()  # every process writes what ran where
parent = os.getpid()

def job(name):
    where = "parent" if os.getpid() == parent else "child"
    os.write(pipe_in, f"{name} ran in {where}\\n".encode())
    if name == "a":
        started.set()
        gate.wait(10)
    return name

a = pool.work(job, "a")
started.wait(10)
b = pool.work(job, "b")  # queued behind a when the process forks
pid = fork()
if pid == 0:
    try:
        # c queues behind anything the parent left: had b survived, it would run first.
        c = pool.work(job, "c").get(timeout=10)
        own = gnotifier.work(os.getpid).get(timeout=10) == os.getpid()
        os.write(pipe_in, f"child got {c}, default pool in child: {own}\\n".encode())
    finally:
        os._exit(0)
_, status = os.waitpid(pid, 0)
gate.set()
values = [a.get(timeout=10), b.get(timeout=10)]
pool.shutdown()
os.close(pipe_in)
lines = b""
while chunk := os.read(pipe_out, 4096):
    lines += chunk
print(json.dumps({"lines": lines.decode().splitlines(), "child_status": status, "parent_values": values}))
"""


@pytest.mark.parametrize("fork", ["os.fork", "gevent.fork"])
def test_pool_after_fork_child_starts_fresh_and_parent_jobs_run_once(fork: str) -> None:
    # In a subprocess: forking the test runner itself would fork its threads' state too.
    result = run_script(FORK_CHILD, fork, timeout=60)
    assert (result.returncode, result.stderr) == (0, ""), f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert json.loads(result.stdout) == {
        "lines": ["a ran in parent", "c ran in child", "child got c, default pool in child: True", "b ran in parent"],
        "child_status": 0,
        "parent_values": ["a", "b"],
    }


EXIT_AFTER_FORK = """\
import os, sys, gnotifier

def main():
    gnotifier.work(int).get()  # its loop now waits idle on the threadpool: alive at the fork
    pid = os.fork()
    if pid == 0:
        print("child exits", flush=True)
        sys.exit(0)  # a normal exit, atexit hooks and all
    _, status = os.waitpid(pid, 0)
    print("child status", os.waitstatus_to_exitcode(status), flush=True)

gnotifier.run(main)
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_child_forked_while_a_worker_loop_is_alive_exits_normally() -> None:
    # Regression: the child inherited the parent's count of running loops,
    # and its exit waited for loops that did not exist there, forever.
    result = run_script(EXIT_AFTER_FORK, timeout=30)
    assert (result.returncode, result.stdout.splitlines()) == (0, ["child exits", "child status 0"]), result.stderr


def test_a_child_forked_while_another_threads_fork_finishes_still_runs_gnotifiers_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The interleaving, forced: thread B's before-hook, then thread A's
    # after_in_parent hook (A forked just before), then B's fork. B's child
    # must still find its start owed, at its first call into gnotifier.
    from gnotifier import _fork

    ran: list[str] = []
    monkeypatch.setattr(_fork, "_starts", [lambda: ran.append("start")])
    monkeypatch.setattr(_fork, "_forking", 0)
    monkeypatch.setattr(_fork, "_started_in", os.getpid())
    monkeypatch.setattr(_fork, "_lock", _fork._lock)  # the child's start replaces it: put it back after
    _fork._before()  # A's fork
    _fork._before()  # B's fork
    _fork._after_in_parent()  # A's fork is done
    monkeypatch.setattr(os, "getpid", lambda: -1)  # from here on: B's child
    _fork.catch_up()
    _fork.catch_up()  # once only
    _fork._after_in_child()  # gnotifier's own hook, later: done already
    assert ran == ["start"]


IMPORT_FORKS_NOTHING = """\
import os, sys
if sys.argv[1] == "patched":
    from gevent import monkey
    monkey.patch_all()
forks = []
os.register_at_fork(before=lambda: forks.append(os.getpid()))
import gnotifier
gnotifier.run(lambda: gnotifier.work(os.getpid).get())
print("forks", len(forks), flush=True)
"""


@pytest.mark.skipif(not hasattr(os, "register_at_fork"), reason="needs os.register_at_fork")
@pytest.mark.parametrize("patching", ["plain", "patched"])
def test_importing_and_using_gnotifier_forks_nothing(patching: str) -> None:
    # Regression: under patch_all(), the import looked pthread_setname_np up
    # with ctypes.util.find_library, which ran ldconfig through gevent's
    # subprocess: a fork that ran fork hooks against a half-imported gnotifier.
    result = run_script(IMPORT_FORKS_NOTHING, patching, timeout=30)
    assert (result.returncode, result.stdout, result.stderr) == (0, "forks 0\n", "")
