"""A function wrapped to record its calls: the tests that check which path a code took (a fast path
answered or declined, a compile made or not) count them, the function itself still answering."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Spy:
    """`function`, with every call's positional arguments and result kept in `calls`."""

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function = function
        self.calls: list[tuple[tuple[Any, ...], Any]] = []

    def __call__(self, *args: Any) -> Any:
        result = self.function(*args)
        self.calls.append((args, result))
        return result

    @property
    def answered(self) -> int:
        """Calls that returned something other than None (a fast path taken, not declined)."""
        return sum(result is not None for _, result in self.calls)
