"""Outcomes: what a call produced, as a value object that can cross threads.

A worker thread captures its job's outcome in a ``Value`` or an ``Error``,
hands the object to the hub through the dispatcher, and the hub unwraps it
into a promise. Nothing here is shared: each outcome is written by one
thread before the hand-off and read by the hub after it.
"""

from __future__ import annotations

from typing import Any, Callable, Generic, NoReturn, TypeVar, Union

T = TypeVar("T")

__all__ = ["Error", "Outcome", "Value", "capture"]


class Value(Generic[T]):
    """A call that returned ``value``."""

    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"Value({self.value!r})"

    def unwrap(self) -> T:
        """The value."""
        return self.value


class Error:
    """A call that raised ``error`` (any BaseException, traceback attached)."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def __repr__(self) -> str:
        return f"Error({self.error!r})"

    def unwrap(self) -> NoReturn:
        """Raise the error, with its own traceback; once.

        The error is dropped from this outcome first, and the raising frame
        lets go of it: a traceback would otherwise keep frames (and this
        outcome) alive in a cycle.
        """
        error, self.error = self.error, None  # type: ignore[assignment]
        try:
            raise error
        finally:
            del error


Outcome = Union[Value[Any], Error]


def capture(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Outcome:
    """Run ``fn(*args, **kwargs)`` and return what it produced. Any thread."""
    try:
        return Value(fn(*args, **kwargs))
    except BaseException as exc:  # noqa: BLE001 - the outcome carries it
        return Error(exc)
