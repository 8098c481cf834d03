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
