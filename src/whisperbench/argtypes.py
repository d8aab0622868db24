"""argparse ``type=`` parsers shared by the CLI and the pytest options.

Each raises ``argparse.ArgumentTypeError`` with a message naming the value and the valid range,
which argparse (and pytest, for ``--whisper-*`` options) turns into a usage error.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import TypeVar

__all__ = ["choice", "csv", "int_at_least", "optional_positive_int", "seconds"]

T = TypeVar("T")


def csv(parse: Callable[[str], T], what: str) -> Callable[[str], tuple[T, ...]]:
    """Comma-separated values, each through ``parse``; an empty list is refused."""

    def parse_list(text: str) -> tuple[T, ...]:
        items = [item.strip() for item in text.split(",") if item.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"empty list of {what}")
        return tuple(parse(item) for item in items)

    return parse_list


def choice(choices: tuple[str, ...], what: str) -> Callable[[str], str]:
    """One of ``choices``; the error lists them."""

    def parse(text: str) -> str:
        if text not in choices:
            raise argparse.ArgumentTypeError(
                f"unknown {what} {text!r}; choose from: {', '.join(choices)}"
            )
        return text

    return parse


def seconds(
    *,
    allow_zero: bool = False,
    maximum_s: float | None = None,
    minimum_s: float | None = None,
) -> Callable[[str], float]:
    """A finite number of seconds: > 0 (>= 0 with ``allow_zero``, >= ``minimum_s`` when
    given), at most ``maximum_s``."""
    lowest = ">= 0" if allow_zero else "> 0"
    if minimum_s is not None:
        lowest = f">= {minimum_s:g}"
    bound = f"{lowest} and <= {maximum_s:g}" if maximum_s is not None else lowest

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
        too_small = value < 0 if allow_zero else value <= 0
        if minimum_s is not None:
            too_small = value < minimum_s
        too_large = maximum_s is not None and value > maximum_s
        if not math.isfinite(value) or too_small or too_large:
            raise argparse.ArgumentTypeError(f"must be {bound} seconds, got {text!r}")
        return value

    return parse


def int_at_least(minimum: int) -> Callable[[str], int]:
    """A whole number >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return parse


def optional_positive_int(text: str) -> int | None:
    """A whole number >= 1, or off (``none``, ``off``, ``0`` or empty) as None."""
    return None if text.strip().lower() in {"", "none", "off", "0"} else int_at_least(1)(text)
