"""Every command's ``--help`` states each default once, in the help text's own words.

Help texts say "Default: X" themselves (the run options from :mod:`whisperbench.options`,
the gate options, the app's own flags); a formatter that appends "(default: X)" as well
would say it twice, or say "None" where the text says "none".
"""

from __future__ import annotations

import argparse
import re

import pytest

from whisperbench.cli import build_parser

COMMANDS = ("run", "models", "compare", "ab", "report", "sweep", "merge")


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def _help(command: str | None) -> str:
    parser = build_parser()
    chosen = parser if command is None else _subparsers(parser)[command]
    return chosen.format_help()


def _option_entries(text: str) -> list[str]:
    """The help text of each option, wrapped lines joined (entries start with "  -")."""
    entries = re.split(r"\n(?=  -)", text)
    return [" ".join(entry.split()) for entry in entries if entry.startswith("  -")]


def test_every_command_is_checked() -> None:
    assert set(_subparsers(build_parser())) == set(COMMANDS)


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_no_default_is_shown_twice(command: str | None) -> None:
    text = _help(command)
    assert "(default:" not in text
    entries = _option_entries(text)
    assert entries  # every command has options (--help at least)
    doubled = [entry for entry in entries if len(re.findall(r"default", entry, re.I)) > 1]
    # "the default" in prose is fine once; a second mention is a doubled default.
    assert doubled == []


def test_run_states_the_defaults_its_options_take() -> None:
    entries = {entry.split()[0]: entry for entry in _option_entries(_help("run"))}
    assert entries["--threads"].endswith("Default: none")
    assert entries["--model"].endswith("Default: base")
    assert entries["--rounds"].endswith("Default: 1")
