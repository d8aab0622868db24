"""``whisperbench``: run | models | compare | ab | report.

``whisperbench run`` keeps every flag of the original ``WhisperViaHF.py`` with its meaning
(``WhisperViaHF.py`` in the repository root calls it), so an energy framework can launch it
unchanged. Exit codes: 0 ok, 1 some inputs failed (the rest are still measured and written),
2 usage error (bad flag, unknown model, a dtype the device cannot run, no weights).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from whisperbench import __version__

__all__ = ["build_parser", "main"]

EXIT_OK, EXIT_INPUT_FAILED, EXIT_USAGE = 0, 1, 2


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: one subparser per command."""
    from whisperbench import app
    from whisperbench.ab import cli as ab
    from whisperbench.compare import cli as compare
    from whisperbench.models.listing import list_models
    from whisperbench.report import cli as report

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
        formatter_class=argparse.RawDescriptionHelpFormatter,  # help texts state defaults
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
