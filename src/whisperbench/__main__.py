"""``python -m whisperbench``: the same command line as ``whisperbench`` (sweep workers and
SLURM tasks start this way, with the interpreter that started the sweep)."""

import sys

from whisperbench.cli import main

sys.exit(main())
