"""Operating-point analysis on runs with known answers: pooling, the energy-optimal clock, the
deadline choice and the Pareto front, then the report's section and figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from whisperbench.report.operating_points import ClockPoint, analyse, clock_findings
from whisperbench.runs import Run, run_from_document

CLOCKS = (510, 810, 1110, 1410)


def _bench(clock: int, run: int, j_per_audio_s: float | None, rtf: float) -> dict[str, Any]:
    audio_s, rounds = 10.0, 4
    info = {
        "schema_version": 1,
        "model": "base",
        "dtype": "float16",
        "device": "cuda:0",
        "gpu_name": "NVIDIA A100-SXM4-80GB",
        "audio_s": audio_s,
        "batch_size": 1,
        "rounds": rounds,
        "inference_s": rtf * audio_s,
        "energy_j": None if j_per_audio_s is None else j_per_audio_s * audio_s * rounds,
        "energy_valid": j_per_audio_s is not None,
        "sm_clock_mhz_requested": clock,
    }
    return {"name": f"c{clock}r{run}", "fullname": f"t::c{clock}r{run}", "params": {},
            "stats": {"data": [rtf * audio_s] * rounds}, "extra_info": info}  # fmt: skip


def _run(benches: list[dict[str, Any]]) -> Run:
    return run_from_document({"benchmarks": benches, "machine_info": {}}, "sweep.json", "sweep")


# J per audio second is U-shaped in the clock (leakage at low clocks, voltage at high ones);
# RTF falls as the clock rises. Two runs per clock, +-5% apart.
ENERGY = {510: 30.0, 810: 22.0, 1110: 24.0, 1410: 33.0}
RTF = {510: 0.30, 810: 0.19, 1110: 0.14, 1410: 0.11}


def _sweep_run() -> Run:
    return _run([_bench(c, r, ENERGY[c] * s, RTF[c] * s)
                 for c in CLOCKS for r, s in ((1, 0.95), (2, 1.05))])  # fmt: skip


def test_points_pool_runs_as_ratios_of_sums() -> None:
    ((group, points),) = analyse([_sweep_run()]).items()
    assert group == "base float16, 10 s audio, NVIDIA A100-SXM4-80GB"
    assert [p.sm_clock_mhz for p in points] == list(CLOCKS)
    at_810 = points[1]
    assert at_810.runs == 2
    assert at_810.j_per_audio_s == pytest.approx(22.0)  # (0.95 + 1.05) / 2 of equal audio
    assert at_810.j_per_audio_s_range == pytest.approx((22.0 * 0.95, 22.0 * 1.05))
    assert at_810.rtf == pytest.approx(0.19)
    assert at_810.edp == pytest.approx(22.0 * 0.19)


def test_optimal_deadline_and_pareto_answers() -> None:
    ((group, points),) = analyse([_sweep_run()]).items()
    findings = clock_findings(group, points, rtf_deadline=0.15)
    assert findings.energy_optimal is not None
    assert findings.energy_optimal.sm_clock_mhz == 810
    assert findings.deadline_choice is not None
    assert findings.deadline_choice.sm_clock_mhz == 1110  # 810 is too slow for RTF 0.15
    assert findings.edp_optimal is not None
    assert findings.edp_optimal.sm_clock_mhz == 1110  # 24*0.14 < 22*0.19
    assert [p.sm_clock_mhz for p in findings.pareto] == [1410, 1110, 810]  # 510 is dominated
    sentences = findings.sentences()
    assert sentences[0].startswith("low frequency 510 MHz: 30 J/audio s, RTF 0.3")
    assert sentences[2].startswith("optimal frequency (least energy) 810 MHz")
    assert "33% less energy than at 1410 MHz" in sentences[2]
    assert sentences[-1].startswith("least energy with RTF <= 0.15: 1110 MHz")
    none_fast = clock_findings(group, points, rtf_deadline=0.05)
    assert none_fast.deadline_choice is None
    assert none_fast.sentences()[-1].endswith("no clock meets the deadline")


def test_invalid_energy_windows_do_not_count() -> None:
    benches = [_bench(c, 1, ENERGY[c], RTF[c]) for c in CLOCKS]
    benches[1]["extra_info"]["energy_valid"] = False  # 810 MHz: its window was flagged
    ((group, points),) = analyse([_run(benches)]).items()
    assert points[1].j_per_audio_s is None
    assert points[1].rtf == pytest.approx(0.19)  # time still counts
    findings = clock_findings(group, points)
    assert findings.energy_optimal is not None
    assert findings.energy_optimal.sm_clock_mhz == 1110


def test_a_single_clock_is_no_operating_point_analysis() -> None:
    assert analyse([_run([_bench(1410, 1, 30.0, 0.1)])]) == {}
    no_energy = [
        ClockPoint(510, 1, None, 0.3, None, (0.3, 0.3)),
        ClockPoint(1410, 1, None, 0.1, None, (0.1, 0.1)),
    ]
    assert clock_findings("g", no_energy).energy_optimal is None


def test_the_report_has_the_section_and_its_figures(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from whisperbench.report.document import build_report, render_markdown

    profiles = tmp_path / "sweep"
    profiles.mkdir()
    (profiles / "A100_freq_510_run_01_profile.csv").write_text(
        "time_unix_s,elapsed_s,phase,power_w\n1,0.0,load,60\n2,0.5,measure,150\n3,1.0,measure,152\n"
    )
    blocks = build_report([_sweep_run()], tmp_path / "out", "t", rtf_deadline=0.15,
                          profile_folders=[profiles])  # fmt: skip
    text = render_markdown(blocks)
    assert "## Operating points: low, high and optimal frequency" in text
    assert "optimal frequency (least energy) 810 MHz" in text
    assert "least energy with RTF &lt;= 0.15: 1110 MHz" in text  # Markdown escapes <
    for name in ("operating_points.png", "pareto.png", "power_traces.png"):
        assert (tmp_path / "out" / name).stat().st_size > 5000, name
        assert f"]({name})" in text
