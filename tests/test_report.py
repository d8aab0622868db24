"""``whisperbench report`` on the synthetic golden runs: files, figures, tables, skips."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import matplotlib.image
import pytest

from whisperbench.report.cli import add_report_arguments, run_report

GOLDEN = Path(__file__).parent / "golden"
GPU_RUNS = ["synthetic_a100_base.json", "synthetic_a100_slower.json"]
CLOCK_SHARDS = [f"synthetic_a100_clock{c}.json" for c in (510, 960, 1410)]
CPU_RUN = "synthetic_cpu_nosensors.json"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MIB = 2**20


def report(out: Path, *runs: str | Path) -> int:
    parser = argparse.ArgumentParser(prog="whisperbench report")
    add_report_arguments(parser)
    paths = [str(GOLDEN / run) if isinstance(run, str) else str(run) for run in runs]
    return run_report(parser.parse_args([*paths, "-o", str(out)]))


def markdown_table(text: str, heading: str) -> list[dict[str, str]]:
    """The first table after ``## heading``, as dicts keyed by header."""
    lines = text.split(f"## {heading}\n", 1)[1].splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("|"))
    table = []
    for line in lines[first:]:
        if not line.startswith("|"):
            break
        table.append([cell.strip() for cell in line.strip("|").split("|")])
    headers, body = table[0], table[2:]
    return [dict(zip(headers, cells, strict=True)) for cells in body]


def json_benchmarks(*names: str) -> dict[tuple[str, str, str, float], dict[str, Any]]:
    found = {}
    for name in names:
        document = json.loads((GOLDEN / name).read_text())
        for bench in document["benchmarks"]:
            info = bench["extra_info"]
            key = (
                Path(name).stem,
                info["model"],
                info["dtype"],
                info["device_state"]["before"]["gpus"][0]["sm_clock_mhz"]
                if info["device"] != "cpu"
                else 0,
            )
            found[key] = info
    return found


@pytest.fixture(scope="module")
def gpu_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gpu_report")
    assert report(out, *GPU_RUNS, *CLOCK_SHARDS) == 0
    return out


def test_writes_markdown_html_and_every_figure(gpu_report: Path) -> None:
    names = sorted(path.name for path in gpu_report.iterdir())
    assert names == [
        "clocks.png",
        "energy_vs_dtype.png",
        "memory_vs_size.png",
        "operating_points.png",
        "pareto.png",
        "phases.png",
        "report.html",
        "report.md",
        "rtf_vs_size.png",
        "wer_vs_energy.png",
    ]


def test_figures_are_valid_pngs_matplotlib_reads_back(gpu_report: Path) -> None:
    text = (gpu_report / "report.md").read_text()
    page = (gpu_report / "report.html").read_text()
    for png in gpu_report.glob("*.png"):
        assert png.read_bytes()[:8] == PNG_SIGNATURE
        pixels = matplotlib.image.imread(png)
        height, width = pixels.shape[:2]
        assert height > 200
        assert width > 400
        assert pixels.std() > 0  # not a blank canvas
        assert f"]({png.name})" in text
        assert f'<img src="{png.name}"' in page


def test_results_table_numbers_are_the_json_numbers(gpu_report: Path) -> None:
    rows = markdown_table((gpu_report / "report.md").read_text(), "Results")
    expected = json_benchmarks(*GPU_RUNS, *CLOCK_SHARDS)
    assert len(rows) == len(expected) == 11
    checks = {
        "RTF": "rtf",
        "RTFx": "rtfx",
        "inference s": "inference_s",
        "s/token": "s_per_token",
        "WER": "wer",
        "J/audio s": "j_per_audio_s",
    }
    for row in rows:
        info = expected[(row["run"], row["model"], row["dtype"], float(row["SM MHz"]))]
        for header, field in checks.items():
            assert float(row[header]) == pytest.approx(info[field], rel=6e-4), (header, row)
        assert float(row["GPU alloc MiB"]) == pytest.approx(
            info["cuda_peak_allocated_bytes"] / MIB, rel=6e-4
        )
        assert float(row["RSS MiB"]) == pytest.approx(info["peak_rss_bytes"] / MIB, rel=6e-4)
        assert int(row["rounds"]) == info["rounds"]


def test_energy_and_phase_tables_match_the_json(gpu_report: Path) -> None:
    text = (gpu_report / "report.md").read_text()
    expected = json_benchmarks(*GPU_RUNS, *CLOCK_SHARDS)
    clocks = {
        (r["run"], r["model"], r["dtype"]): float(r["SM MHz"])
        for r in markdown_table(text, "Results")
    }
    for row in markdown_table(text, "Energy"):
        info = expected[
            (
                row["run"],
                row["model"],
                row["dtype"],
                clocks[(row["run"], row["model"], row["dtype"])],
            )
        ]
        for header, field in (
            ("energy J", "energy_j"),
            ("J/token", "j_per_token"),
            ("avg W", "avg_power_w"),
            ("above idle J", "energy_above_idle_j"),
        ):
            assert float(row[header]) == pytest.approx(info[field], rel=6e-4)
    for row in markdown_table(text, "Phases"):
        info = expected[
            (
                row["run"],
                row["model"],
                row["dtype"],
                clocks[(row["run"], row["model"], row["dtype"])],
            )
        ]
        for header in ("features s", "encoder s", "decoder s"):
            assert float(row[header]) == pytest.approx(info[header.replace(" ", "_")], rel=6e-4)


def test_html_carries_the_same_tables(gpu_report: Path) -> None:
    text = (gpu_report / "report.md").read_text()
    page = (gpu_report / "report.html").read_text()
    table_lines = [line for line in text.splitlines() if line.startswith("|")]
    separators = [line for line in table_lines if set(line) <= set("|-: ")]
    # Runs, Results, Phases, Energy, and one per configuration measured at several clocks
    clock_groups = text.split("## Operating points", 1)[1].count("audio, ")
    assert clock_groups == 1  # tiny.en float16, 5 s, measured at 510, 960 and 1410 MHz
    assert page.count("<table>") == len(separators) == 4 + clock_groups
    assert page.count("<tr>") == len(table_lines) - len(separators)
    assert "<strong>RTF</strong>" in page


def test_legend_explains_each_figure(gpu_report: Path) -> None:
    text = (gpu_report / "report.md").read_text()
    figures = text.split("## Figures\n", 1)[1]
    sections = re.findall(r"### (.+)\n\n!\[.*\]\((.+\.png)\)\n\n(.+)\n", figures)
    assert len(sections) == 6 + 2  # and the operating-point figures: clocks, Pareto
    assert all(len(description) > 80 for _, _, description in sections)


def test_cpu_run_without_sensors_skips_energy_figures_and_says_why(tmp_path: Path) -> None:
    (tmp_path / "energy_vs_dtype.png").write_bytes(b"stale from an earlier report")
    assert report(tmp_path, CPU_RUN) == 0
    text = (tmp_path / "report.md").read_text()
    assert sorted(p.name for p in tmp_path.glob("*.png")) == [
        "memory_vs_size.png",
        "phases.png",
        "rtf_vs_size.png",
    ]
    assert (
        "### Energy per second of audio by dtype\n\nNot drawn: no valid energy measurement "
        "in any run (no energy sensor on this machine)."
    ) in text
    assert "### Accuracy vs energy\n\nNot drawn: no valid energy measurement in any run." in text
    assert "Not drawn: no SM clock recorded (CPU runs or no NVML)." in text
    assert "No valid energy measurement in any run: no energy sensor on this machine." in text
    results = markdown_table(text, "Results")
    assert "J/audio s" not in results[0]
    assert "GPU alloc MiB" not in results[0]


def test_one_clock_only_skips_the_clock_figure(tmp_path: Path) -> None:
    assert report(tmp_path, GPU_RUNS[0]) == 0
    text = (tmp_path / "report.md").read_text()
    assert "Not drawn: all runs at one SM clock (1410 MHz)." in text
    assert "run" not in markdown_table(text, "Results")[0]  # a single run needs no run column


def test_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert report(tmp_path, tmp_path / "missing.json") == 2
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps({"benchmarks": [{"fullname": "t::x", "name": "x", "stats": {}}]}))
    assert report(tmp_path, plain) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"whisperbench report: error: no such run file: '{tmp_path / 'missing.json'}'",
        "whisperbench report: error: no whisperbench benchmark in the given runs "
        "(no extra_info.schema_version)",
    ]


def test_report_of_real_runs(tmp_path: Path) -> None:
    """Two real CPU runs of the suite (tests/golden/real_*): figures, numbers, energy skips."""
    runs = ["real_cpu_threads1.json", "real_cpu_threads1_contended.json"]
    assert report(tmp_path, *runs) == 0
    for png in tmp_path.glob("*.png"):
        assert png.read_bytes()[:8] == PNG_SIGNATURE
        assert matplotlib.image.imread(png).std() > 0
    text = (tmp_path / "report.md").read_text()
    rows = markdown_table(text, "Results")
    for name in runs:
        for bench in json.loads((GOLDEN / name).read_text())["benchmarks"]:
            info = bench["extra_info"]
            (row,) = [
                r
                for r in rows
                if r["run"] == Path(name).stem and float(r["audio s"]) == info["audio_s"]
            ]
            assert float(row["RTF"]) == pytest.approx(info["rtf"], rel=6e-4)
            assert float(row["RSS MiB"]) == pytest.approx(info["peak_rss_bytes"] / MIB, rel=6e-4)
    reason = json.loads((GOLDEN / runs[0]).read_text())["benchmarks"][0]["extra_info"][
        "energy_null_reason"
    ]
    assert f"Not drawn: no valid energy measurement in any run ({reason})." in text
