"""``whisperbench``: run | models | compare | ab | report | sweep | merge.

``whisperbench run`` keeps every flag of the original ``WhisperViaHF.py`` with its meaning
(``WhisperViaHF.py`` in the repository root calls it), so an energy framework can launch it
unchanged. Its exit codes (0 ok, 1 some inputs failed, 2 usage error, 3 results not written,
130/143 interrupted) are :mod:`whisperbench.app.run`'s, listed in the README ("Exit codes").
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from whisperbench import __version__

__all__ = ["build_parser", "main"]


#: Every help text states its own default ("Default: X"), so no formatter appends another
#: "(default: X)" (tests/test_cli_help.py checks every command's help).
_Formatter = argparse.RawDescriptionHelpFormatter


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: one subparser per command."""
    from whisperbench import app
    from whisperbench.ab import cli as ab
    from whisperbench.compare import cli as compare
    from whisperbench.models.listing import list_models
    from whisperbench.report import cli as report
    from whisperbench.sweep import cli as sweep_cli

    parser = argparse.ArgumentParser(
        prog="whisperbench",
        description="Measure what OpenAI Whisper costs through Hugging Face transformers.",
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"whisperbench {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser(
        "run",
        help="transcribe audio and measure it (the WhisperViaHF.py app)",
        description=app.DESCRIPTION,
        formatter_class=_Formatter,
    )
    app.add_arguments(run)
    run.set_defaults(handler=app.run)

    models = commands.add_parser(
        "models",
        help="list every model id, its architecture and where its weights would come from",
        formatter_class=_Formatter,
    )
    models.set_defaults(handler=list_models)

    compare_parser = commands.add_parser(
        "compare",
        help="compare saved runs and fail on significant regressions",
        formatter_class=_Formatter,
    )
    compare.add_compare_arguments(compare_parser)
    compare_parser.set_defaults(handler=compare.run_compare)

    ab_parser = commands.add_parser(
        "ab",
        help="measure two versions interleaved (A B, B A, ...) and gate on the pairs",
        formatter_class=_Formatter,
    )
    ab.add_ab_arguments(ab_parser)
    ab_parser.set_defaults(handler=ab.run_ab_command)

    report_parser = commands.add_parser(
        "report", help="tables and plots from saved runs", formatter_class=_Formatter
    )
    report.add_report_arguments(report_parser)
    report_parser.set_defaults(handler=report.run_report)

    sweep_parser = commands.add_parser(
        "sweep",
        help="sweep a plan over GPU clocks, power limits, GPUs and nodes (local or SLURM)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sweep_cli.add_sweep_arguments(sweep_parser)
    merge_parser = commands.add_parser(
        "merge", help="one pytest-benchmark JSON of a sweep's shards", formatter_class=_Formatter
    )
    sweep_cli.add_merge_arguments(merge_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
