"""``whisperbench run``: the original WhisperViaHF.py app on the measured pipeline.

The flags, their meanings and the JSON keys of the original are kept (README, "The
command-line app"); what whisperbench measures besides is written beside them.

- :mod:`~whisperbench.app.arguments`: the command line (the original flags, then the shared
  run options of :mod:`whisperbench.options`);
- :mod:`~whisperbench.app.inputs`: gathering the audio (files, LibriSpeech, the original
  benchmark samples, synthetic speech) with per-input failures;
- :mod:`~whisperbench.app.output`: the JSON file, the summary, the progress bar;
- :mod:`~whisperbench.app.run`: gather audio -> measure through a session -> seed record ->
  write.
"""

from whisperbench.app.arguments import DESCRIPTION, add_arguments
from whisperbench.app.run import run

__all__ = ["DESCRIPTION", "add_arguments", "run"]
