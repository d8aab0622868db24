"""The messages between the ``ab`` coordinator and a worker: one JSON object per line.

The coordinator writes commands on the worker's stdin, one word per line:

- ``round``: run one measured round; the worker answers ``{"event": "round", ...}``;
- ``finish``: no more rounds; the worker answers ``{"event": "result", ...}`` and exits.

The worker writes events on its stdout (everything else it prints goes to stderr):

- ``{"event": "ready", "python": ..., "whisperbench": ..., "version": ...}`` once the model
  is loaded and warmed up;
- ``{"event": "round", "wall_s": s, "inference_s": s}`` after each measured round;
- ``{"event": "result", "extra_info": {...}, "machine_info": {...}, "wall_s": [...]}``;
- ``{"event": "error", "message": "one line"}`` before exiting with a non-zero status.

Two versions of whisperbench talk through this, so it changes only by adding keys.
"""

from __future__ import annotations

import json
from typing import IO, Any

from whisperbench.schema import finite_json

__all__ = [
    "EVENT",
    "FINISH",
    "MESSAGE",
    "PROTOCOL_VERSION",
    "ROUND",
    "decode",
    "encode",
    "send",
]

PROTOCOL_VERSION = 1
ROUND = "round"
FINISH = "finish"
EVENT = "event"
MESSAGE = "message"


def encode(message: dict[str, Any]) -> str:
    """One message as one line of JSON (non-finite floats become null)."""
    return json.dumps(finite_json(message), default=str, allow_nan=False) + "\n"


def send(stream: IO[str], message: dict[str, Any]) -> None:
    """Write one message and flush it (the reader waits for whole lines)."""
    stream.write(encode(message))
    stream.flush()


def decode(line: str) -> dict[str, Any]:
    """Parse one line into a message. Raises ValueError when it is not a JSON object."""
    try:
        value = json.loads(line)
    except ValueError:
        value = None
    if not isinstance(value, dict) or not isinstance(value.get(EVENT), str):
        raise ValueError(f"not a worker message: {line.strip()[:120]!r}")
    return value
