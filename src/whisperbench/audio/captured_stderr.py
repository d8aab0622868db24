"""What C libraries print on the process's stderr, caught instead of shown.

libsndfile's MP3 decoder (libmpg123) writes ``Note:`` lines to file descriptor 2 while it looks
for MPEG frames; Python's ``sys.stderr`` redirection cannot catch them, so the descriptor itself
is pointed at a temporary file for the duration of a block.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator

__all__ = ["captured_stderr"]


@contextlib.contextmanager
def captured_stderr() -> Iterator[list[str]]:
    """Inside the block, what is written to file descriptor 2 goes to a temporary file; the
    list yielded holds its non-empty lines once the block ends. Without a usable stderr, a
    no-op (the list stays empty). Not for blocks where other threads print: they are caught
    too.
    """
    lines: list[str] = []
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield lines
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode("utf-8", errors="replace")
            lines.extend(line.strip() for line in text.splitlines() if line.strip())
