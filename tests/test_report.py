"""``whisperbench report`` on the golden runs: files, figures, tables, the numbers behind each
figure against the JSON, skips, escaping, and the comparison section."""

from __future__ import annotations

import argparse
import base64
import json
import re
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import matplotlib.image
import pytest

from whisperbench.report.cli import MISSING_MATPLOTLIB, add_report_arguments, run_report

GOLDEN = Path(__file__).parent / "golden"
GPU_RUNS = ["synthetic_a100_base_1.json", "synthetic_a100_slower_1.json"]
CLOCK_SHARDS = [f"synthetic_a100_clock{c}.json" for c in (510, 960, 1410)]
LENGTHS = "synthetic_a100_lengths.json"
CPU_RUN = "synthetic_cpu_nosensors.json"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MIB = 2**20


def report(out: Path, *runs: str | Path, extra: tuple[str, ...] = ()) -> int:
    parser = argparse.ArgumentParser(prog="whisperbench report")
    add_report_arguments(parser)
    paths = [str(GOLDEN / run) if isinstance(run, str) else str(run) for run in runs]
    return run_report(parser.parse_args([*paths, "-o", str(out), *extra]))


def markdown_table(text: str, heading: str) -> list[dict[str, str]]:
    """The first table after ``heading`` (a heading line or a paragraph), as dicts."""
    lines = text.split(f"{heading}\n", 1)[1].splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("|"))
    table = []
    for line in lines[first:]:
        if not line.startswith("|"):
            break
        table.append([cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip("|"))])
    headers, body = table[0], table[2:]
    return [dict(zip(headers, cells, strict=True)) for cells in body]


def data_rows(text: str, title: str) -> list[dict[str, str]]:
    section = text.split(f"### {title}\n", 1)[1].split("\n### ", 1)[0]
    found = re.search(r"^Data behind this figure[^\n]*:\n", section, re.M)
    assert found, f"no data table under {title!r}"
    return markdown_table(section[found.start() :], found.group(0).rstrip("\n"))


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


@pytest.fixture(scope="module")
def lengths_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lengths_report")
    assert report(out, LENGTHS) == 0
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
    text = (gpu_report / "report.md").read_text()
    assert "Not drawn: every benchmark used 5 s clips." in text  # rtf_vs_audio


def test_figures_are_valid_pngs_and_the_page_embeds_them(gpu_report: Path) -> None:
    text = (gpu_report / "report.md").read_text()
    page = (gpu_report / "report.html").read_text()
    embedded = re.findall(r'<img src="data:image/png;base64,([^"]+)"', page)
    # six figures from the rows, and the operating-point figures: clocks, Pareto
    assert len(embedded) == len(list(gpu_report.glob("*.png"))) == 6 + 2
    for png in gpu_report.glob("*.png"):
        assert png.read_bytes()[:8] == PNG_SIGNATURE
        pixels = matplotlib.image.imread(png)
        height, width = pixels.shape[:2]
        assert height > 200
        assert width > 400
        assert pixels.std() > 0  # not a blank canvas
        assert f"]({png.name})" in text
        assert base64.b64encode(png.read_bytes()).decode() in embedded  # this very figure
    assert 'src="' + "clocks.png" not in page  # nothing the page would have to fetch


def test_results_table_numbers_are_the_json_numbers(gpu_report: Path) -> None:
    rows = markdown_table((gpu_report / "report.md").read_text(), "## Results")
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
        assert float(row["clip s"]) == info["audio_s"] / info["clips"]


def test_energy_and_phase_tables_match_the_json(gpu_report: Path) -> None:
    text = (gpu_report / "report.md").read_text()
    expected = json_benchmarks(*GPU_RUNS, *CLOCK_SHARDS)
    clocks = {
        (r["run"], r["model"], r["dtype"]): float(r["SM MHz"])
        for r in markdown_table(text, "## Results")
    }
    for row in markdown_table(text, "## Energy"):
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
    for row in markdown_table(text, "## Phases"):
        info = expected[
            (
                row["run"],
                row["model"],
                row["dtype"],
                clocks[(row["run"], row["model"], row["dtype"])],
            )
        ]
        for header in ("features s", "encoder s", "decoder s", "detokenize s"):
            assert float(row[header]) == pytest.approx(info[header.replace(" ", "_")], rel=6e-4)
        assert row["workload"] == "5 s clip"


def test_rtf_points_are_each_benchmarks_own_ratio_of_sums_with_its_rounds(
    lengths_report: Path,
) -> None:
    """Every RTF point is one workload's sum(inference) / sum(audio) (never pooled over
    lengths), and its bars span that benchmark's fastest and slowest round."""
    text = (lengths_report / "report.md").read_text()
    benches = json.loads((GOLDEN / LENGTHS).read_text())["benchmarks"]
    for title, x_name in (
        ("Real-time factor vs audio length", "clip s"),
        ("Real-time factor vs model size", "parameters"),
    ):
        points = data_rows(text, title)
        assert len(points) == len(benches) == 12
        for bench in benches:
            info = bench["extra_info"]
            rounds = info["rounds_inference_s"]
            x = info["audio_s"] / info["clips"] if x_name == "clip s" else info["parameters"]
            batch = f"batch {info['batch_size']}" if x_name == "clip s" else ""
            (point,) = [
                p
                for p in points
                if float(p[x_name]) == pytest.approx(x, rel=1e-3)
                and p["series"].startswith(f"{info['model']}, float16" if batch else "float16")
                and (batch in p["series"] if batch else True)
                and (
                    x_name == "clip s"
                    or f"{info['audio_s'] / info['clips']:g} s clip" in p["series"]
                )
                and (x_name == "clip s" or ("batch of" in p["series"]) == (info["batch_size"] > 1))
            ]
            assert float(point["RTF"]) == pytest.approx(
                sum(rounds) / (info["audio_s"] * len(rounds)), rel=6e-4
            )
            assert float(point["low"]) == pytest.approx(min(rounds) / info["audio_s"], rel=6e-4)
            assert float(point["high"]) == pytest.approx(max(rounds) / info["audio_s"], rel=6e-4)


def test_energy_bars_pool_workloads_as_a_ratio_of_sums(lengths_report: Path) -> None:
    """A model's bar over 5, 10 and 30 s clips is sum(J) / sum(audio s), not the mean of
    each benchmark's J per audio s (the two differ here)."""
    text = (lengths_report / "report.md").read_text()
    points = data_rows(text, "Energy per second of audio by dtype")
    benches = [b["extra_info"] for b in json.loads((GOLDEN / LENGTHS).read_text())["benchmarks"]]
    assert len(points) == 2
    for point in points:
        own = [info for info in benches if info["model"] == point["model"]]
        audio = [info["audio_s"] * info["rounds"] for info in own]
        pooled = sum(info["energy_j"] for info in own) / sum(audio)
        mean_of_ratios = statistics.fmean(info["j_per_audio_s"] for info in own)
        assert abs(pooled / mean_of_ratios - 1) > 0.01  # the data tell the two apart
        assert float(point["J per audio s"]) == pytest.approx(pooled, rel=6e-4)


def test_phases_name_every_phase_and_label_the_workload(lengths_report: Path) -> None:
    text = (lengths_report / "report.md").read_text()
    points = data_rows(text, "Where the time goes: phases per round")
    phases = {p["phase"] for p in points}
    assert phases == {"features", "encoder", "decoder", "detokenize", "round total"}
    series = {p["series"] for p in points}
    assert "tiny.en float16, batch of 4 × 5 s clips" in series
    assert "base.en float16, 30 s clip" in series
    assert not any("20s" in s or "x4" in s for s in series)  # no per-round totals as lengths
    benches = [b["extra_info"] for b in json.loads((GOLDEN / LENGTHS).read_text())["benchmarks"]]
    for point in points:
        if point["phase"] == "detokenize":
            model = point["series"].split()[0]
            candidates = [info["detokenize_s"] for info in benches if info["model"] == model]
            assert any(
                float(point["seconds per round"]) == pytest.approx(v, rel=6e-4) for v in candidates
            )


def test_html_carries_the_same_tables(gpu_report: Path) -> None:
    text = (gpu_report / "report.md").read_text()
    page = (gpu_report / "report.html").read_text()
    table_lines = [line for line in text.splitlines() if line.startswith("|")]
    separators = [line for line in table_lines if set(line) <= set("|-: ")]
    # Runs, Results, Phases, Energy, and one per configuration measured at several clocks
    clock_groups = text.split("## Operating points", 1)[1].count("audio, ")
    assert clock_groups == 1  # tiny.en float16, 5 s, measured at 510, 960 and 1410 MHz
    data_tables = page.count("<details><summary>Data behind this figure")
    assert data_tables == 6  # one under each figure drawn from the rows
    assert page.count("<table>") == len(separators) == 4 + clock_groups + data_tables
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
        "rtf_vs_audio.png",
        "rtf_vs_size.png",
    ]
    assert (
        "### Energy per second of audio by dtype\n\nNot drawn: no valid energy measurement "
        "in any run (no energy sensor on this machine)."
    ) in text
    assert "### Accuracy vs energy\n\nNot drawn: no valid energy measurement in any run." in text
    assert "Not drawn: no SM clock recorded (CPU runs or no NVML)." in text
    assert "No valid energy measurement in any run: no energy sensor on this machine." in text
    results = markdown_table(text, "## Results")
    assert "J/audio s" not in results[0]
    assert "GPU alloc MiB" not in results[0]
    assert "machine" not in results[0]  # one machine: the runs table names it


def test_one_clock_only_skips_the_clock_figure(tmp_path: Path) -> None:
    assert report(tmp_path, GPU_RUNS[0]) == 0
    text = (tmp_path / "report.md").read_text()
    assert "Not drawn: all runs at one SM clock (1410 MHz)." in text
    assert "run" not in markdown_table(text, "## Results")[0]  # a single run needs no run column


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


def test_without_matplotlib_one_line_names_the_extra(tmp_path: Path) -> None:
    """matplotlib blocked from importing, as on an install without the report extra."""
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from whisperbench.cli import main\n"
        f"sys.exit(main(['report', {str(GOLDEN / CPU_RUN)!r}, '-o', {str(tmp_path)!r}]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 2
    assert done.stderr == f"whisperbench report: error: {MISSING_MATPLOTLIB}\n"
    assert "pip install 'whisperbench[report]'" in done.stderr
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_names_and_machine_fields_are_escaped(tmp_path: Path) -> None:
    """A run anyone can write: HTML and ANSI escapes in names and machine facts are shown as
    text in both forms, never markup or terminal codes."""
    document = json.loads((GOLDEN / GPU_RUNS[0]).read_text())
    bench = document["benchmarks"][0]
    bench["name"] = "test_transcribe[<script>alert(1)</script>\x1b[31m]"
    bench["extra_info"]["model"] = "<img src=x onerror=alert(2)>"
    document["machine_info"]["whisperbench"]["gpus"][0]["name"] = "GPU <b>\x1b[2J|pipe"
    for other in document["benchmarks"]:
        other["extra_info"]["device_state"]["before"]["gpus"][0]["name"] = "GPU <b>\x1b[2J|pipe"
    evil = tmp_path / "evil.json"
    evil.write_text(json.dumps(document))
    out = tmp_path / "out"
    assert report(out, evil) == 0
    for name in ("report.md", "report.html"):
        text = (out / name).read_text()
        assert "<script" not in text
        assert "<img src=x" not in text
        assert "<b>" not in text
        assert "\x1b" not in text
        assert "&lt;img src=x onerror=alert(2)&gt;" in text
        assert "\\x1b[2J" in text
    markdown = (out / "report.md").read_text()
    assert "GPU &lt;b&gt;\\x1b[2J\\|pipe" in markdown  # no column break either


def test_comparison_section_with_a_baseline(tmp_path: Path) -> None:
    bases = [f"synthetic_a100_base_{i}.json" for i in (1, 2, 3)]
    slower = [f"synthetic_a100_slower_{i}.json" for i in (1, 2, 3)]
    baseline = ("--baseline", *(str(GOLDEN / b) for b in bases), "--fail", "rtf:10%")
    assert report(tmp_path, *slower, extra=baseline) == 0  # a report, not a gate
    text = (tmp_path / "report.md").read_text()
    assert "## Comparison with the baseline" in text
    assert "**Verdict:** FAIL: 4 gated check(s) failed (4 regression); worst: rtf +" in text
    table = markdown_table(text, "## Comparison with the baseline")
    rtf_rows = [row for row in table if row["metric"] == "rtf (&lt;)"]
    assert len(rtf_rows) == 4
    assert all(row["verdict"] == "regression" and row["gate"] == "FAIL" for row in rtf_rows)
    points = data_rows(text, "Changes against the baseline")
    assert len(points) == 4
    for point in points:
        assert point["verdict"] == "regression"
        assert float(point["low"]) > 10  # the whole interval beyond the 10% threshold
        assert float(point["low"]) < float(point["change %"]) < float(point["high"])
    assert (tmp_path / "comparison.png").is_file()


def test_refused_comparison_is_reported_not_fatal(tmp_path: Path) -> None:
    baseline = ("--baseline", str(GOLDEN / GPU_RUNS[0]))
    assert report(tmp_path, CLOCK_SHARDS[0], extra=baseline) == 0
    text = (tmp_path / "report.md").read_text()
    assert "Not compared: runs come from different machines or device settings" in text


def test_report_of_real_runs(tmp_path: Path) -> None:
    """Real CPU runs of the suite (tests/golden/real_*): figures, numbers, energy skips."""
    runs = [f"real_cpu_threads1_{i}.json" for i in (1, 2)]
    assert report(tmp_path, *runs) == 0
    for png in tmp_path.glob("*.png"):
        assert png.read_bytes()[:8] == PNG_SIGNATURE
        assert matplotlib.image.imread(png).std() > 0
    text = (tmp_path / "report.md").read_text()
    rows = markdown_table(text, "## Results")
    for name in runs:
        for bench in json.loads((GOLDEN / name).read_text())["benchmarks"]:
            info = bench["extra_info"]
            (row,) = [
                r
                for r in rows
                if r["run"] == Path(name).stem and float(r["clip s"]) == info["audio_s"]
            ]
            assert float(row["RTF"]) == pytest.approx(info["rtf"], rel=6e-4)
            assert float(row["RSS MiB"]) == pytest.approx(info["peak_rss_bytes"] / MIB, rel=6e-4)
    reason = json.loads((GOLDEN / runs[0]).read_text())["benchmarks"][0]["extra_info"][
        "energy_null_reason"
    ]
    assert f"Not drawn: no valid energy measurement in any run ({reason})." in text
