#!/usr/bin/env python3
"""Drop-in for the original WhisperViaHF.py: same flags, same JSON keys (see README)."""

import sys

from whisperbench.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
