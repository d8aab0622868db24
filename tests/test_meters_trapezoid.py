"""The polling integrator against analytic curves (hypothesis)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from whisperbench.meters.nvml_energy import trapezoid_energy_j

_times = st.lists(
    st.floats(min_value=0.0, max_value=30.0, allow_nan=False), min_size=2, max_size=200
).map(sorted)


@given(
    times=_times,
    a=st.floats(min_value=0.0, max_value=700.0),
    b=st.floats(min_value=-20.0, max_value=20.0),
)
def test_exact_for_linear_power(times: list[float], a: float, b: float) -> None:
    t0, t1 = times[0], times[-1]
    energy = trapezoid_energy_j(times, [a + b * t for t in times])
    expected = a * (t1 - t0) + b * (t1**2 - t0**2) / 2
    assert energy == pytest.approx(expected, rel=1e-9, abs=1e-6)


@settings(max_examples=200)
@given(
    times=_times,
    mean=st.floats(min_value=50.0, max_value=400.0),
    amplitude=st.floats(min_value=0.0, max_value=50.0),
    period=st.floats(min_value=0.05, max_value=10.0),
)
def test_error_within_trapezoid_bound_for_a_sine(
    times: list[float], mean: float, amplitude: float, period: float
) -> None:
    """|error| <= M * sum(h^3) / 12 with M = max |P''| = amplitude * omega^2."""
    omega = 2 * math.pi / period

    def power(t: float) -> float:
        return mean + amplitude * math.sin(omega * t)

    t0, t1 = times[0], times[-1]
    expected = mean * (t1 - t0) - amplitude / omega * (math.cos(omega * t1) - math.cos(omega * t0))
    steps = [times[i] - times[i - 1] for i in range(1, len(times))]
    bound = amplitude * omega**2 * sum(h**3 for h in steps) / 12
    energy = trapezoid_energy_j(times, [power(t) for t in times])
    assert abs(energy - expected) <= bound + 1e-6 * max(1.0, abs(expected))


def test_rejects_bad_input() -> None:
    assert trapezoid_energy_j([1.0], [5.0]) == 0.0
    with pytest.raises(ValueError, match="length"):
        trapezoid_energy_j([0.0, 1.0], [1.0])
    with pytest.raises(ValueError, match="non-decreasing"):
        trapezoid_energy_j([1.0, 0.0], [1.0, 1.0])
