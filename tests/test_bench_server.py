"""Scenario S's view of the server's hub thread: read from /proc, on Linux."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from helpers import wait_until

from gnotifier._bench import _server

linux_only = pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="reads /proc")


def test_hub_usage_is_cores_and_wake_ups_a_second_between_two_samples() -> None:
    usage = _server.hub_usage((10.0, 1.0, 100, 3.0), (12.0, 1.5, 300, 6.5))
    assert usage == pytest.approx({"server CPU": 1.75, "hub CPU": 0.25, "hub wake-ups": 100.0})


def test_hub_usage_is_nothing_without_both_samples() -> None:
    assert _server.hub_usage(None, (12.0, 1.5, 300, 6.5)) == {}
    assert _server.hub_usage((10.0, 1.0, 100, 3.0), None) == {}
    assert _server.hub_usage((10.0, 1.0, 100, 3.0), (10.0, 1.0, 100, 3.0)) == {}  # no time passed


@linux_only
def test_hub_sample_counts_the_main_threads_cpu_and_sleeps() -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("reads the main thread, which must be this one")
    before = _server.hub_sample(os.getpid())
    assert before is not None
    busy_until = time.thread_time() + 0.1
    while time.thread_time() < busy_until:
        pass
    for _ in range(5):
        time.sleep(0.002)  # each one puts the thread to sleep once at least
    after = _server.hub_sample(os.getpid())
    assert after is not None
    assert after[1] - before[1] >= 0.05  # CPU seconds, in clock ticks
    assert after[2] - before[2] >= 5


@linux_only
def test_hub_sample_counts_the_other_threads_cpu_in_the_process_only() -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("reads the main thread, which must be this one")
    before = _server.hub_sample(os.getpid())
    busy = threading.Event()

    def spin() -> None:
        until = time.thread_time() + 0.2
        while time.thread_time() < until:
            pass
        busy.set()

    thread = threading.Thread(target=spin)
    thread.start()
    assert busy.wait(10)
    thread.join(10)
    after = _server.hub_sample(os.getpid())
    assert before is not None and after is not None
    assert after[3] - before[3] >= 0.15  # the process: the other thread's 0.2 s, in clock ticks
    assert after[1] - before[1] < 0.1  # the main thread only waited


def test_hub_sample_is_none_for_a_process_that_is_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert _server.hub_sample(child.pid) is None


@linux_only
def test_hub_processes_are_an_arbiters_children_or_a_server_and_its_children() -> None:
    code = (
        "import subprocess, sys\n"
        "children = [subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']) for _ in range(2)]\n"
        "print(*(child.pid for child in children), flush=True)\n"
        "for child in children:\n"
        "    child.wait()\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    children: list[int] = []
    try:
        assert parent.stdout is not None
        children = sorted(int(pid) for pid in parent.stdout.readline().split())
        assert _server.hub_processes(parent.pid, arbiter=True) == children  # gunicorn's workers
        assert _server.hub_processes(parent.pid, arbiter=False) == [parent.pid, *children]  # pywsgi's, forked
        assert _server.hub_processes(children[0], arbiter=True) == [children[0]]  # no children (yet)
    finally:
        for child in children:
            os.kill(child, signal.SIGTERM)
        parent.wait(10)


@linux_only
def test_hub_samples_sum_what_each_process_used() -> None:
    code = "import time; print('asleep', flush=True); time.sleep(30)"
    children = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        for child in children:
            assert child.stdout is not None and child.stdout.readline() == "asleep\n"

        def asleep(pid: int) -> bool:  # in time.sleep(): it went to sleep, and used no CPU since
            sample = _server.hub_sample(pid)
            with open(f"/proc/{pid}/stat", "rb") as stat:
                return sample is not None and stat.read().rsplit(b")", 1)[1].split()[0] == b"S"

        wait_until(lambda: all(asleep(child.pid) for child in children), what="both children to sleep")
        each = [_server.hub_sample(child.pid) for child in children]
        both = _server.hub_samples([child.pid for child in children])
        assert both is not None and each[0] is not None and each[1] is not None
        assert both[1:] == pytest.approx(tuple(a + b for a, b in zip(each[0][1:], each[1][1:])))  # asleep: no change
        assert _server.hub_samples([]) is None
    finally:
        for child in children:
            child.kill()
            child.wait()
            if child.stdout is not None:
                child.stdout.close()
    assert _server.hub_samples([child.pid for child in children]) is None  # gone


def test_wait_for_hubs_waits_for_every_worker_but_not_where_proc_lists_none(monkeypatch: pytest.MonkeyPatch) -> None:
    found = iter([[10], [10], [11, 12]])  # gunicorn's arbiter forks its workers one by one
    monkeypatch.setattr(_server, "hub_processes", lambda server, arbiter: next(found))
    monkeypatch.setattr(_server.os.path, "isdir", lambda path: True)
    assert _server.wait_for_hubs(10, 2) == [11, 12]
    monkeypatch.setattr(_server, "hub_processes", lambda server, arbiter: [10])
    monkeypatch.setattr(_server.os.path, "isdir", lambda path: False)  # no /proc: nothing more will show
    started = time.monotonic()
    assert _server.wait_for_hubs(10, 2) == [10]
    assert time.monotonic() - started < _server.STARTUP / 2


def test_a_gunicorn_whose_gevent_worker_does_not_load_gives_way_to_pywsgi(monkeypatch: pytest.MonkeyPatch) -> None:
    # Plain ``gunicorn`` without ``packaging`` installs, then fails on -k gevent.
    real_import = _server.importlib.import_module

    def no_gevent_worker(name: str, package: str | None = None) -> object:
        if name == "gunicorn.workers.ggevent":
            raise ModuleNotFoundError("No module named 'packaging'")
        return real_import(name, package)

    monkeypatch.setattr(_server.importlib.util, "find_spec", lambda name, package=None: object())
    monkeypatch.setattr(_server.importlib, "import_module", no_gevent_worker)
    _server.why_not_gunicorn.cache_clear()
    try:
        why_not = _server.why_not_gunicorn()
        assert why_not is not None and "packaging" in why_not and "gunicorn[gevent]" in why_not
        command = _server.server_command(8000, 1)
        assert "gunicorn" not in command and command[1] == "-c"  # the patched pywsgi server
    finally:
        _server.why_not_gunicorn.cache_clear()
