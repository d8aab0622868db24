"""Option parsers: accepted values and the messages for refused ones."""

import argparse

import pytest

from whisperbench.argtypes import choice, csv, int_at_least, optional_positive_int, seconds


@pytest.mark.parametrize(
    ("parser", "text", "expected"),
    [
        (seconds(), "2.5", 2.5),
        (seconds(allow_zero=True), "0", 0.0),
        (seconds(maximum_s=3600), "3600", 3600.0),
        (int_at_least(1), "4", 4),
        (optional_positive_int, "off", None),
        (optional_positive_int, "16", 16),
        (csv(seconds(), "durations"), "5, 10,20", (5.0, 10.0, 20.0)),
        (choice(("a", "b"), "letter"), "b", "b"),
    ],
)
def test_accepted(parser, text: str, expected: object) -> None:  # type: ignore[no-untyped-def]
    assert parser(text) == expected


@pytest.mark.parametrize(
    ("parser", "text", "message"),
    [
        (seconds(), "0", "must be > 0 seconds, got '0'"),
        (seconds(), "nan", "must be > 0 seconds"),
        (seconds(), "inf", "must be > 0 seconds"),
        (seconds(), "five", "not a number of seconds: 'five'"),
        (seconds(allow_zero=True), "-1", "must be >= 0 seconds"),
        (seconds(maximum_s=3600), "3601", "must be > 0 and <= 3600 seconds"),
        (int_at_least(1), "0", "must be >= 1, got 0"),
        (int_at_least(1), "1.5", "not a whole number: '1.5'"),
        (csv(seconds(), "durations"), " , ", "empty list of durations"),
        (choice(("a", "b"), "letter"), "c", "unknown letter 'c'; choose from: a, b"),
    ],
)
def test_refused_with_a_message(parser, text: str, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(argparse.ArgumentTypeError) as caught:
        parser(text)
    assert message in str(caught.value)
