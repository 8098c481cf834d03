"""Static checks of the public types, run by mypy in the `type` tox env.

Not a test module: pytest does not collect it (the name does not start with
``test_``), and nothing here needs to run.
"""

from __future__ import annotations

import concurrent.futures
import sys

import gnotifier
from gnotifier import Promise

if sys.version_info >= (3, 11):
    from typing import assert_type
else:
    from typing_extensions import assert_type


def to_text(value: int) -> str:
    return str(value)


def check_promise_types(number: Promise[int], future: concurrent.futures.Future[bytes]) -> None:
    assert_type(number.get(), int)
    assert_type(number.then(to_text), Promise[str])
    assert_type(number.tap(print), Promise[int])
    assert_type(number.finally_(lambda: None), Promise[int])
    assert_type(Promise.resolved(3), Promise[int])
    assert_type(Promise.from_future(future), Promise[bytes])
    assert_type(gnotifier.work(to_text, 4), Promise[str])
    assert_type(gnotifier.Pool(size=2).work(to_text, 5), Promise[str])
    assert_type(gnotifier.Pool(size=2).map(to_text, [1, 2]), Promise[list[str]])
    assert_type(gnotifier.run(to_text, 6), str)
    assert_type(gnotifier.Pool(size=2).stats()["pending"], int)
    processes = gnotifier.ProcessPoolExecutor(2, nice=5)
    assert_type(gnotifier.Pool(executor=processes).work(to_text, 7), Promise[str])
    assert_type(processes.submit(to_text, 8), concurrent.futures.Future[str])
    assert_type(gnotifier.hub_stats()["holds"], int)
    assert_type(number.as_future(), concurrent.futures.Future[int])
    answer: gnotifier.ThreadsafePromise[str] = gnotifier.ThreadsafePromise()
    assert_type(answer.result(1.0), str)
    items: gnotifier.Queue[bytes] = gnotifier.Queue(maxsize=4)
    assert_type(items.get(), bytes)
    assert_type(gnotifier.Timer(1, to_text, 2, repeat=True), gnotifier.Timer)
    assert_type(gnotifier.Thread(to_text, 2, name="t"), gnotifier.Thread)


def check_wrong_calls_are_rejected() -> None:
    # Each line must be an error: with warn_unused_ignores (mypy --strict),
    # a call that stopped being rejected fails the type env.
    gnotifier.work(to_text, "not an int")  # type: ignore[arg-type]
    gnotifier.work(to_text)  # type: ignore[call-arg]
    gnotifier.Pool(size=2).work(to_text, 1, 2)  # type: ignore[call-arg]
    gnotifier.Notifier(to_text, "x")  # type: ignore[arg-type]
    gnotifier.make_notifier(to_text)  # type: ignore[arg-type]
    gnotifier.delay(1, to_text, "x", 3)  # type: ignore[arg-type]
    gnotifier.interval(1, to_text, "x")  # type: ignore[arg-type]
    gnotifier.call_soon_threadsafe(to_text, "x")  # type: ignore[arg-type]
    gnotifier.start_thread(to_text, "x")  # type: ignore[arg-type]
    gnotifier.run(to_text, "x")  # type: ignore[arg-type]
    gnotifier.call_in_hub(to_text, "x")  # type: ignore[arg-type]
    gnotifier.Timer(1, to_text, "x")  # type: ignore[arg-type]
    gnotifier.Thread(to_text)  # type: ignore[arg-type]
    gnotifier.hub_stats()["lost"]  # type: ignore[typeddict-item]
    typed_queue: gnotifier.Queue[int] = gnotifier.Queue()
    typed_queue.put("not an int")  # type: ignore[arg-type]


def promise_of_text(value: int) -> Promise[str]:
    return gnotifier.work(to_text, value)


def check_call_in_hub_returns_what_fn_gives() -> None:
    assert_type(gnotifier.call_in_hub(to_text, 1), str)
    assert_type(gnotifier.call_in_hub(promise_of_text, 1), str)  # waited for
