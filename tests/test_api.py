"""The public names and their signatures, as ``inspect.signature()`` shows them, in both builds."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

import gnotifier

SIGNATURES = {
    "Notifier": "(callback, /, *args, single_shot=True, on_error=None, ref=True)",
    "make_notifier": "(callback, /, *args, single_shot=True, on_error=None, ref=True)",
    "Notifier.trigger": "(self)",
    "Notifier.free": "(self)",
    "call_soon_threadsafe": "(fn, /, *args, hub=None)",
    "call_in_hub": "(fn, /, *args, timeout=None, hub=None)",
    "start_thread": "(fn, /, *args, name=None)",
    "work": "(fn, /, *args, **kwargs)",
    "Pool": "(size=None, *, executor=None, name='gnotifier', max_pending=None)",
    "Pool.work": "(self, fn, /, *args, **kwargs)",
    "Pool.map": "(self, fn, iterable)",
    "Pool.shutdown": "(self, wait=True, cancel_pending=False, timeout=None)",
    "Pool.stats": "(self)",
    "default_pool": "()",
    "ProcessPoolExecutor": "(max_workers=None, mp_context=None, initializer=None, initargs=(), *, nice=10, **kwargs)",
    "check_cancelled": "()",
    "Promise.then": "(self, on_value=None, on_error=None)",
    "Promise.catch": "(self, on_error, *exc_types)",
    "Promise.finally_": "(self, fn)",
    "Promise.tap": "(self, fn)",
    "Promise.cancel": "(self)",
    "Promise.get": "(self, block=True, timeout=None)",
    "Promise.result": "(self, timeout=None)",
    "Promise.as_future": "(self)",
    "Promise.resolved": "(value)",
    "Promise.rejected": "(exc)",
    "Promise.all": "(iterable)",
    "Promise.race": "(iterable)",
    "Promise.any": "(iterable)",
    "Promise.settle": "(iterable)",
    "Promise.from_future": "(future)",
    "amap": "(fn, items, concurrency=None)",
    "areduce": "(fn, items, initial)",
    "afilter": "(fn, items)",
    "aeach": "(fn, items)",
    "run": "(main, /, *args)",
    "delay": "(seconds, fn, /, *args)",
    "interval": "(seconds, fn, /, *args)",
    "ThreadsafePromise": "()",
    "Queue": "(maxsize=0)",
    "Queue.put": "(self, item, block=True, timeout=None)",
    "Queue.get": "(self, block=True, timeout=None)",
    "Queue.put_nowait": "(self, item)",
    "Queue.get_nowait": "(self)",
    "Queue.shutdown": "(self, immediate=False)",
}

ERRORS = ["NotifierFreed", "HubClosed", "AlreadySettled", "Cancelled", "PoolFull", "PoolClosed"]


def _lookup(dotted: str) -> Any:
    found: Any = gnotifier
    for part in dotted.split("."):
        found = getattr(found, part)
    return found


def _bare(signature: inspect.Signature) -> str:
    # Names, kinds and defaults: what a caller relies on; annotations are for type checkers.
    parameters = [parameter.replace(annotation=inspect.Parameter.empty) for parameter in signature.parameters.values()]
    return str(signature.replace(parameters=parameters, return_annotation=inspect.Signature.empty))


@pytest.mark.parametrize("name", list(SIGNATURES), ids=str)
def test_every_public_callable_shows_its_signature(name: str) -> None:
    assert name.split(".")[0] in gnotifier.__all__
    assert _bare(inspect.signature(_lookup(name))) == SIGNATURES[name]


@pytest.mark.parametrize("name", ERRORS)
def test_every_error_is_public(name: str) -> None:
    assert name in gnotifier.__all__
    assert issubclass(getattr(gnotifier, name), Exception)


@pytest.mark.parametrize("cls", [gnotifier.Notifier, gnotifier.Pool], ids=lambda cls: cls.__name__)
def test_a_class_that_states_its_signature_states_what_its_init_takes(cls: type) -> None:
    # The compiled classes state it (their __init__ shows none); the pure
    # build's __init__ is a plain function, to check the statement against.
    init = cls.__init__  # type: ignore[misc]
    if not inspect.isfunction(init):
        pytest.skip("the compiled build's __init__ shows no signature to compare with")
    stated = inspect.signature(cls)
    parameters = list(inspect.signature(init).parameters.values())[1:]  # without self
    assert _bare(stated) == _bare(inspect.Signature(parameters))


def test_a_subclass_shows_its_own_init_or_else_its_bases_signature() -> None:
    class Named(gnotifier.Pool):
        def __init__(self, workers: int, label: str = "x") -> None:
            super().__init__(workers, name=label)

    class Plain(gnotifier.Pool):
        pass

    assert _bare(inspect.signature(Named)) == "(workers, label='x')"
    assert _bare(inspect.signature(Plain)) == SIGNATURES["Pool"]
