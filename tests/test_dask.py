"""Pool(executor=client.get_executor()) with a dask distributed LocalCluster.

Runs in the ``dask`` tox env, which installs ``distributed``; elsewhere the
module is skipped.
"""

from __future__ import annotations

import concurrent.futures
import threading
from typing import Any, Callable, Iterator

import gevent
import pytest

import gnotifier

distributed = pytest.importorskip("distributed")

WAIT = 30.0  # seconds; a local cluster answers in milliseconds


def square(x: int) -> int:
    return x * x


def fail() -> None:
    raise KeyError("from a dask worker")


GATE = threading.Event()  # dask pickles tasks, so the job reaches it by name


def wait_for_gate() -> bool:
    return GATE.wait(WAIT)


@pytest.fixture(autouse=True)
def leaves_nothing_behind() -> Iterator[None]:
    """Replaces conftest's: dask starts threads of its own as it pleases."""
    yield
    assert gnotifier.hub_stats(gevent.get_hub())["holds"] == 0


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    # Threads in this process, speaking TCP on 127.0.0.1: a real scheduler
    # and worker without the cost of starting processes.
    cluster = distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=False,
        protocol="tcp://",
        host="127.0.0.1",
        dashboard_address=None,
    )
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


class RecordingExecutor(concurrent.futures.Executor):
    """Submits to ``inner`` and keeps every future it handed out, in order."""

    def __init__(self, inner: concurrent.futures.Executor) -> None:
        self.inner = inner
        self.futures: list[concurrent.futures.Future[Any]] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        future = self.inner.submit(fn, *args, **kwargs)
        self.futures.append(future)
        return future


@pytest.fixture
def executor(client: Any) -> RecordingExecutor:
    # pure=False: dask would otherwise name a task by its function and
    # arguments, and hand back an earlier test's finished square(3), which
    # an executor still holding it keeps in the cluster.
    return RecordingExecutor(client.get_executor(pure=False))


@pytest.fixture
def pool(executor: RecordingExecutor) -> Iterator[gnotifier.Pool]:
    pool = gnotifier.Pool(executor=executor)
    yield pool
    pool.shutdown(wait=True, timeout=WAIT)


def test_dask_executor_runs_jobs_and_settles_in_the_hub(pool: gnotifier.Pool) -> None:
    hub_thread = threading.get_ident()
    promise = pool.work(square, 7)
    settled_in: list[bool] = []
    promise.rawlink(lambda _: settled_in.append(threading.get_ident() == hub_thread))
    assert (promise.get(timeout=WAIT), settled_in) == (49, [True])


def test_dask_executor_map_keeps_input_order(pool: gnotifier.Pool) -> None:
    assert pool.map(square, range(6)).get(timeout=WAIT) == [0, 1, 4, 9, 16, 25]


def test_dask_executor_error_rejects_the_promise(pool: gnotifier.Pool) -> None:
    with pytest.raises(KeyError, match="from a dask worker"):
        pool.work(fail).get(timeout=WAIT)
    assert pool.stats()["failed"] == 1


def test_dask_executor_cancel_of_a_queued_job_cancels_its_future(
    pool: gnotifier.Pool, executor: RecordingExecutor
) -> None:
    GATE.clear()
    blocker = pool.work(wait_for_gate)
    queued = pool.work(square, 3)
    future = executor.futures[-1]
    cancelled = queued.cancel()
    GATE.set()
    assert blocker.get(timeout=WAIT) is True
    gevent.wait([queued], timeout=WAIT)
    assert (cancelled, future.cancelled(), type(queued.exception)) == (True, True, gnotifier.Cancelled)
