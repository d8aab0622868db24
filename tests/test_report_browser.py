"""The HTML report opened in a real browser (Debian's ``chromium``, headless).

The page must load with every image (embedded, none missing), fit a 1280 px window without
horizontal scrolling (the page, and every table in it), carry no script of its own; a
screenshot at 1280 px is written as a test artefact: ``$WHISPERBENCH_TEST_ARTIFACTS``
(default ``reports/test-artifacts/``) ``/report-1280.png``. ``.ci/run`` installs chromium
with apt-get; where it is not installed this test skips and says so.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib.image
import pytest

from whisperbench.report.cli import add_report_arguments, run_report

GOLDEN = Path(__file__).parent / "golden"
REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WIDTH = 1280

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="chromium is not installed (Debian: apt-get install chromium; .ci/run does it)",
    ),
]

#: Added to a copy of the page only: measures what a reader would see, writes it in the DOM.
PROBE = """<script>
window.addEventListener("load", () => {
  const images = [...document.images];
  const result = {
    images: images.length,
    broken: images.filter((i) => !i.complete || i.naturalWidth === 0).length,
    linked: images.filter((i) => !i.src.startsWith("data:image/png;base64,")).length,
    pageWidth: document.documentElement.scrollWidth,
    windowWidth: window.innerWidth,
    wideTables: [...document.querySelectorAll("table")]
      .filter((t) => t.getBoundingClientRect().right > window.innerWidth + 1).length,
    scrollingBoxes: [...document.querySelectorAll(".wide")]
      .filter((d) => d.scrollWidth > d.clientWidth + 1).length,
    widestImage: Math.max(...images.map((i) => i.getBoundingClientRect().right)),
  };
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify(result);
  document.body.appendChild(out);
});
</script>"""


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
    ]
    return subprocess.run(
        [CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=180, check=False
    )


def artifacts() -> Path:
    folder = Path(
        os.environ.get("WHISPERBENCH_TEST_ARTIFACTS", REPO / "reports" / "test-artifacts")
    )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A report of real CPU runs beside a synthetic GPU sweep, with a baseline to compare."""
    out = tmp_path_factory.mktemp("browser_report")
    parser = argparse.ArgumentParser(prog="whisperbench report")
    add_report_arguments(parser)
    runs = [
        *(str(GOLDEN / f"synthetic_a100_slower_{i}.json") for i in (1, 2, 3)),
        *(str(GOLDEN / f"synthetic_a100_clock{c}.json") for c in (510, 960)),
    ]
    baseline = [str(GOLDEN / f"synthetic_a100_base_{i}.json") for i in (1, 2, 3)]
    gate = ["--fail", "rtf:10%", "--allow-machine-mismatch"]  # the clock shards differ
    args = parser.parse_args([*runs, "--baseline", *baseline, *gate, "-o", str(out)])
    assert run_report(args) == 0
    return out / "report.html"


def test_the_page_loads_whole_and_fits_1280_px(report: Path, tmp_path: Path) -> None:
    page = report.read_text(encoding="utf-8")
    assert "<script" not in page  # the report runs no code of its own
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    done = chromium(
        tmp_path / "profile",
        f"--window-size={WIDTH},900",
        "--virtual-time-budget=15000",
        "--dump-dom",
        probe.as_uri(),
    )
    found = re.search(r'<pre id="probe">([^<]*)</pre>', done.stdout)
    assert found, f"chromium gave no result (exit {done.returncode}): {done.stderr[-500:]}"
    result = json.loads(found.group(1))
    figures = page.count("<img ")
    assert result["images"] == figures >= 6
    assert result["broken"] == 0, result
    assert result["linked"] == 0, result  # every figure embedded: one self-contained file
    assert result["windowWidth"] == WIDTH
    assert result["pageWidth"] <= WIDTH, result  # no horizontal scrolling of the page
    assert result["wideTables"] == 0, result
    assert result["scrollingBoxes"] == 0, result  # no table needs scrolling inside its box
    assert result["widestImage"] <= WIDTH, result


def test_a_screenshot_at_1280_px_is_kept(report: Path, tmp_path: Path) -> None:
    target = artifacts() / "report-1280.png"
    target.unlink(missing_ok=True)
    done = chromium(
        tmp_path / "profile",
        f"--window-size={WIDTH},4000",
        "--hide-scrollbars",
        "--virtual-time-budget=15000",
        f"--screenshot={target}",
        report.as_uri(),
    )
    assert target.is_file(), f"no screenshot (exit {done.returncode}): {done.stderr[-500:]}"
    pixels = matplotlib.image.imread(target)
    assert pixels.shape[1] == WIDTH
    assert pixels.std() > 0.05  # a page with content, not a blank one
