"""Argument checks for the public entry points: bad input fails at the call site.

Each check raises ``TypeError`` for a value of the wrong kind and
``ValueError`` for one out of range, with a message that names the call,
the parameter and what is allowed. They run before anything is queued,
started or waited for. Pure functions; safe in any thread.
"""

from __future__ import annotations

import inspect
import math
import threading
import types
from typing import Any, Callable

__all__ = [
    "ASYNC_FLAGS",
    "MAX_COUNT",
    "MAX_SECONDS",
    "check_callable",
    "check_count",
    "check_seconds",
    "check_timeout",
    "is_plain_function",
]

# Longest wait a native lock accepts (about 292 years on Linux).
MAX_SECONDS = threading.TIMEOUT_MAX
# Largest pool size or bound gevent's primitives take (a C int).
MAX_COUNT = 2**31 - 1

# A function whose call returns a coroutine or an async generator: calling
# it runs nothing, and the result would be dropped unawaited.
ASYNC_FLAGS = inspect.CO_COROUTINE | inspect.CO_ITERABLE_COROUTINE | inspect.CO_ASYNC_GENERATOR


def check_callable(what: str, fn: Any, name: str = "fn") -> None:
    """Raise TypeError unless ``fn`` is a callable that is not a coroutine function.

    The common case (a function or bound method) costs one attribute read
    and a flag test; it is on the hot path of ``work()``.
    """
    if is_plain_function(fn):
        return
    if not callable(fn):
        raise TypeError(f"{what} needs a callable for {name}, got {fn!r}; pass the function, not its result")
    if _is_async(fn):
        raise TypeError(
            f"{what} takes plain functions, but {name}={fn!r} is a coroutine function: calling it "
            f"would only make a coroutine that nothing awaits; pass a plain function"
        )


def is_plain_function(fn: Any) -> bool:
    """Whether ``fn`` is certainly callable and never makes a coroutine.

    True for Python functions and methods that are not coroutine functions,
    for C functions and for plain classes: what jobs and calls almost always
    are. Hot paths test this before they pay for check_callable(): measured,
    a missing-attribute lookup on a builtin such as ``int`` cost 1.2 us per
    submitted job, and inspect's checks more.
    """
    kind = type(fn)
    if kind is types.FunctionType or kind is types.MethodType:
        return not fn.__code__.co_flags & ASYNC_FLAGS
    return kind in _NEVER_ASYNC


# Kinds of callable that never make a coroutine: C functions and methods
# (hashlib, zlib, int.from_bytes) and plain classes.
_NEVER_ASYNC = frozenset(
    {
        types.BuiltinFunctionType,
        types.MethodDescriptorType,
        types.WrapperDescriptorType,
        types.MethodWrapperType,
        types.ClassMethodDescriptorType,
        type,
    }
)


def _is_async(fn: Any) -> bool:
    code = getattr(fn, "__code__", None)
    if code is not None:
        return bool(code.co_flags & ASYNC_FLAGS)
    inner = getattr(fn, "func", None)  # functools.partial
    if inner is not None and inner is not fn:
        return _is_async(inner)
    if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
        return True
    # An object whose class calls it with an ``async def __call__``.
    call = None if isinstance(fn, type) else getattr(type(fn), "__call__", None)  # noqa: B004 - the method itself
    code = getattr(call, "__code__", None)
    return code is not None and bool(code.co_flags & ASYNC_FLAGS)


def check_timeout(what: str, timeout: Any, name: str = "timeout") -> float | None:
    """``timeout`` as float seconds, or None for no limit; raise if it is not one.

    Allowed: None, or a real number from 0 to MAX_SECONDS.
    """
    if timeout is None:
        return None
    return check_seconds(what, timeout, name, positive=False, extra=" (or None to wait without limit)")


def check_seconds(what: str, seconds: Any, name: str = "seconds", positive: bool = False, extra: str = "") -> float:
    """``seconds`` as a float; raise unless it is a finite number in range.

    Allowed: a real number (not a bool) from 0 (exclusive when ``positive``)
    to MAX_SECONDS.
    """
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"{what} needs {name} as a number of seconds{extra}, got {seconds!r}")
    low = "above 0" if positive else "from 0"
    if math.isnan(seconds) or seconds < 0 or (positive and seconds == 0) or seconds > MAX_SECONDS:
        raise ValueError(f"{what} needs {name} {low} to {MAX_SECONDS:.0f} seconds{extra}, got {seconds!r}")
    return float(seconds)


def check_count(what: str, value: Any, name: str, minimum: int = 1, maximum: int = MAX_COUNT) -> int:
    """``value`` as an int from ``minimum`` to ``maximum``; raise if it is not one."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} needs {name} as an int, got {value!r}")
    if not minimum <= value <= maximum:
        raise ValueError(f"{what} needs {name} from {minimum} to {maximum}, got {value!r}")
    return value


class ClassSignature:
    """A class's ``__signature__``, for ``inspect.signature()``: the parameters of ``parameters``.

    A compiled class's ``__init__`` shows inspect no parameters. Given to a
    subclass only while the ``__init__`` that would run is still this
    class's; one with its own gets None, and inspect looks at that instead.
    """

    __slots__ = ("_signature",)

    def __init__(self, parameters: Callable[..., None]) -> None:
        self._signature = inspect.signature(parameters)

    def __get__(self, instance: object, owner: type | None = None) -> inspect.Signature | None:
        if instance is not None or owner is None:
            return None
        for klass in owner.__mro__:
            if "__init__" in vars(klass):
                return self._signature if vars(klass).get("__signature__") is self else None
        return None
