"""``whisperbench report`` where matplotlib is not installed: one line naming the extra."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUN = REPO / "tests" / "golden" / "synthetic_a100_base_1.json"

# `import matplotlib` fails as it does where the package is absent (None in sys.modules).
WITHOUT_MATPLOTLIB = """
import sys
sys.modules["matplotlib"] = None
from whisperbench.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_report_without_matplotlib_names_the_extra_in_one_line(tmp_path: Path) -> None:
    out = tmp_path / "report"
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_MATPLOTLIB, "report", str(RUN), "-o", str(out)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "whisperbench report: error: the report's figures need matplotlib, which is not "
        "installed: pip install 'whisperbench[report]'"
    ]
    assert not out.exists()  # refused before anything was written
