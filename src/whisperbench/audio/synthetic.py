"""Deterministic synthetic audio: speech, tones, chirps, noise and silence as 16 kHz clips.

Length: about 450 lines, mostly the bit-exactness arguments of each generator, kept beside
the code they justify.

Every function returns a :class:`~whisperbench.audio.clip.Clip` whose samples are a pure
function of the arguments: bit-identical across calls and across processes, whatever was
made before (see :mod:`whisperbench.audio.espeak` for what that takes with eSpeak NG).

- Speech is eSpeak NG reading fixed sentences (:mod:`whisperbench.audio.texts`), resampled
  from 22050 Hz with soxr. Its hash is tied to the pinned ``espeakng-loader==0.2.4`` build
  and, through soxr's SIMD code, possibly to the CPU family.
- Tones and chirps are computed from sample indices with IEEE-754 ``+ - * /`` and ``floor``
  only (a fixed polynomial sine, no libm or SIMD math library), so they are bit-identical on
  any machine.
- Noise is uniform white noise from ``numpy.random.Generator(PCG64(seed))``: integer
  arithmetic plus exact scaling, also bit-identical on any machine.

Durations: a clip has exactly ``round(duration_s * 16000)`` samples. ``duration_s`` must be
a finite number of seconds in (0, 3600] that gives at least one sample.
"""

from __future__ import annotations

import math
import numbers
import threading
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from whisperbench.audio import espeak
from whisperbench.audio.clip import SAMPLE_RATE_HZ, Clip
from whisperbench.audio.resample import to_16k_mono
from whisperbench.audio.texts import TEXT_CATEGORIES, sentences

__all__ = [
    "BENCHMARK_CYCLE",
    "CATEGORIES",
    "MAX_DURATION_S",
    "SENTENCE_GAP_S",
    "Category",
    "benchmark_samples",
    "chirp",
    "noise",
    "silence",
    "speech",
    "tone",
]

#: The longest clip any function here makes, seconds.
MAX_DURATION_S = 3600.0
#: Silence between consecutive sentences of a speech clip, seconds.
SENTENCE_GAP_S = 0.3
_GAP_SAMPLES = round(SENTENCE_GAP_S * SAMPLE_RATE_HZ)
_NYQUIST_HZ = SAMPLE_RATE_HZ / 2
#: Samples computed per block, so an hour-long clip never needs hour-long float64 arrays.
_BLOCK_SAMPLES = 1 << 20


class Category(NamedTuple):
    """A speech category: what it is and the clip lengths it stands for, in seconds.

    ``min_s``/``max_s`` describe the category (the original app's ranges); :func:`speech`
    accepts any duration that holds at least one sentence.
    """

    description: str
    default_duration_s: float
    min_s: float
    max_s: float


#: The original app's benchmark sample categories. The original gives no range for
#: ``technical``; 10-30 s is ours.
CATEGORIES: Mapping[str, Category] = MappingProxyType(
    {
        "short": Category("simple everyday sentences", 8.0, 5.0, 10.0),
        "medium": Category("conversational speech", 20.0, 15.0, 30.0),
        "long": Category("narrative with complex vocabulary", 50.0, 45.0, 60.0),
        "technical": Category("computing, medicine and physics terminology", 20.0, 10.0, 30.0),
    }
)

#: The order :func:`benchmark_samples` cycles through, as the original app's benchmark mode.
BENCHMARK_CYCLE: tuple[str, ...] = TEXT_CATEGORIES

_sentence_cache: dict[tuple[str, str, int], NDArray[np.float32]] = {}
_sentence_cache_lock = threading.Lock()


def speech(
    category: str = "short",
    duration_s: float | None = None,
    *,
    voice: str = espeak.DEFAULT_VOICE,
    words_per_minute: int = espeak.DEFAULT_WORDS_PER_MINUTE,
) -> Clip:
    """Synthetic English speech of exactly ``duration_s`` seconds, and its transcript.

    The category's sentences are taken in their fixed order (starting again from the first
    if more are needed), each followed by 0.3 s of silence before the next, for as many whole
    sentences as fit; the rest of the clip is silence. ``reference`` is exactly the sentences
    spoken, joined by single spaces. Each sentence is synthesized once per process and voice
    and rate (a few tens of milliseconds per sentence).

    Args:
        category: One of :data:`CATEGORIES`: ``short``, ``medium``, ``long``, ``technical``.
        duration_s: Length in seconds; None for the category's ``default_duration_s``.
        voice: An eSpeak NG voice name, e.g. ``"en-us"``, ``"en"``, ``"en-gb-x-rp"``.
        words_per_minute: Speaking rate, 80 to 450.

    Returns:
        A ``speech`` clip named like ``"speech-short-8.0s"`` (voice and rate are appended
        when not the defaults).

    Raises:
        ValueError: Unknown category; ``duration_s`` not finite, not in (0, 3600] or shorter
            than one sample, or too short to hold the category's first sentence (the message
            gives the minimum); bad rate or voice name
            (:class:`~whisperbench.audio.espeak.UnknownVoiceError` lists the voices).
        whisperbench.audio.espeak.EspeakError: eSpeak NG failed.
    """
    if category not in CATEGORIES:
        raise ValueError(
            f"unknown speech category {category!r}; valid categories: {', '.join(CATEGORIES)}"
        )
    if duration_s is None:
        duration_s = CATEGORIES[category].default_duration_s
    num_samples = _num_samples(duration_s)
    _checked_int(
        "words_per_minute",
        words_per_minute,
        minimum=espeak.MIN_WORDS_PER_MINUTE,
        maximum=espeak.MAX_WORDS_PER_MINUTE,
    )
    texts = sentences(category)
    # Synthesize the sentences likely needed in one go; any others as they turn out needed.
    # Each sentence's audio is independent of which others are synthesized with it.
    likely = _likely_sentence_count(texts, num_samples, words_per_minute)
    _sentence_audio(texts[:likely], voice, words_per_minute)

    pieces: list[NDArray[np.float32]] = []
    spoken: list[str] = []
    used = 0
    while True:
        index = len(spoken) % len(texts)
        (sentence,) = _sentence_audio(texts[index : index + 1], voice, words_per_minute)
        gap = _GAP_SAMPLES if spoken else 0
        if used + gap + sentence.shape[0] > num_samples:
            break
        if gap:
            pieces.append(np.zeros(gap, dtype=np.float32))
        pieces.append(sentence)
        spoken.append(texts[index])
        used += gap + sentence.shape[0]
        if index == likely - 1 and likely < len(texts):
            _sentence_audio(texts[likely:], voice, words_per_minute)  # the estimate fell short
            likely = len(texts)
    if not spoken:
        first = _sentence_audio(texts[:1], voice, words_per_minute)[0]
        minimum_s = math.ceil(first.shape[0] / SAMPLE_RATE_HZ * 100) / 100
        raise ValueError(
            f"duration_s={duration_s!r} is too short for {category!r} speech: its first "
            f"sentence ({texts[0]!r}) needs duration_s >= {minimum_s:.2f} s with voice "
            f"{voice!r} at {words_per_minute} words per minute"
        )
    pieces.append(np.zeros(num_samples - used, dtype=np.float32))
    samples = np.concatenate(pieces)

    name = f"speech-{category}-{_format_s(duration_s)}s"
    if voice != espeak.DEFAULT_VOICE:
        name += f"-{voice}"
    if words_per_minute != espeak.DEFAULT_WORDS_PER_MINUTE:
        name += f"-{words_per_minute}wpm"
    return _clip(name, samples, kind="speech", reference=" ".join(spoken), category=category)


def tone(duration_s: float, *, frequency_hz: float = 440.0, amplitude: float = 0.5) -> Clip:
    """A sine tone ``amplitude * sin(2 pi frequency_hz t)``, starting at phase zero.

    Args:
        duration_s: Length in seconds, in (0, 3600].
        frequency_hz: Frequency in Hz, above 0 and below 8000 (the Nyquist frequency).
        amplitude: Peak value, 0 to 1.

    Raises:
        ValueError: An argument is out of range or not a finite number.
    """
    num_samples = _num_samples(duration_s)
    _check_frequency("frequency_hz", frequency_hz)
    _check_amplitude(amplitude)
    frequency = float(frequency_hz)

    def block(indices: NDArray[np.float64]) -> NDArray[np.float64]:
        return _sin_turns(indices * frequency / SAMPLE_RATE_HZ)

    name = f"tone-{_format_number(frequency)}hz{_amplitude_tag(amplitude, 0.5)}"
    samples = _generate(num_samples, block, float(amplitude))
    return _clip(f"{name}-{_format_s(duration_s)}s", samples, kind="tone")


def chirp(
    duration_s: float,
    *,
    start_hz: float = 100.0,
    end_hz: float = 4000.0,
    amplitude: float = 0.5,
) -> Clip:
    """A linear sweep from ``start_hz`` at the first sample to ``end_hz`` at the end.

    The instantaneous frequency is ``start_hz + (end_hz - start_hz) * t / duration`` with
    the clip's exact duration (its sample count / 16000); phase starts at zero. A downward
    sweep (``end_hz < start_hz``) is allowed.

    Args:
        duration_s: Length in seconds, in (0, 3600].
        start_hz: Start frequency in Hz, above 0 and below 8000.
        end_hz: End frequency in Hz, above 0 and below 8000.
        amplitude: Peak value, 0 to 1.

    Raises:
        ValueError: An argument is out of range or not a finite number.
    """
    num_samples = _num_samples(duration_s)
    _check_frequency("start_hz", start_hz)
    _check_frequency("end_hz", end_hz)
    _check_amplitude(amplitude)
    start, sweep = float(start_hz), float(end_hz) - float(start_hz)
    double_length_s = 2.0 * num_samples / SAMPLE_RATE_HZ

    def block(indices: NDArray[np.float64]) -> NDArray[np.float64]:
        t_s = indices / SAMPLE_RATE_HZ
        return _sin_turns(t_s * (start + sweep * (t_s / double_length_s)))

    name = f"chirp-{_format_number(start)}-{_format_number(float(end_hz))}hz"
    name += _amplitude_tag(amplitude, 0.5)
    samples = _generate(num_samples, block, float(amplitude))
    return _clip(f"{name}-{_format_s(duration_s)}s", samples, kind="chirp")


def noise(duration_s: float, *, seed: int = 0, amplitude: float = 0.1) -> Clip:
    """Uniform white noise in ``[-amplitude, amplitude)`` from ``Generator(PCG64(seed))``.

    Each sample is ``(2 u - 1) * amplitude`` for the generator's next float64 ``u``, so a
    shorter clip is a prefix of a longer one with the same seed.

    Args:
        duration_s: Length in seconds, in (0, 3600].
        seed: A non-negative integer.
        amplitude: Peak value, 0 to 1 (the RMS is ``amplitude / sqrt(3)``).

    Raises:
        ValueError: An argument is out of range or of the wrong type.
    """
    num_samples = _num_samples(duration_s)
    seed = _checked_int("seed", seed, minimum=0, meaning="a non-negative integer")
    _check_amplitude(amplitude)
    generator = np.random.Generator(np.random.PCG64(seed))

    def block(indices: NDArray[np.float64]) -> NDArray[np.float64]:
        uniform: NDArray[np.float64] = generator.random(size=int(indices.size))
        return uniform * 2.0 - 1.0

    name = f"noise-seed{seed}{_amplitude_tag(amplitude, 0.1)}-{_format_s(duration_s)}s"
    return _clip(name, _generate(num_samples, block, float(amplitude)), kind="noise")


def silence(duration_s: float) -> Clip:
    """All zeros.

    Raises:
        ValueError: ``duration_s`` is not a finite number of seconds in (0, 3600].
    """
    samples = np.zeros(_num_samples(duration_s), dtype=np.float32)
    return _clip(f"silence-{_format_s(duration_s)}s", samples, kind="silence")


def benchmark_samples(n: int) -> list[Clip]:
    """The original app's benchmark audio: ``n`` speech clips cycling short, medium, long,
    technical, each at its category's default duration (8, 20, 50 and 20 s).

    Raises:
        ValueError: ``n`` is not a positive integer.
    """
    n = _checked_int("n", n, minimum=1, meaning="a positive integer number of samples")
    return [speech(BENCHMARK_CYCLE[index % len(BENCHMARK_CYCLE)]) for index in range(n)]


# --- helpers --------------------------------------------------------------------------------


def _num_samples(duration_s: object) -> int:
    """``round(duration_s * 16000)`` after validating ``duration_s``."""
    valid = f"a finite number of seconds in (0, {MAX_DURATION_S:g}]"
    if isinstance(duration_s, bool) or not isinstance(duration_s, numbers.Real):
        raise ValueError(f"duration_s must be {valid}; got {duration_s!r}")
    seconds = float(duration_s)
    if not math.isfinite(seconds) or not 0.0 < seconds <= MAX_DURATION_S:
        raise ValueError(f"duration_s must be {valid}; got {duration_s!r}")
    num_samples = round(seconds * SAMPLE_RATE_HZ)
    if num_samples < 1:
        raise ValueError(
            f"duration_s={duration_s!r} is shorter than one sample at {SAMPLE_RATE_HZ} Hz; "
            f"duration_s must be {valid} and at least {1 / SAMPLE_RATE_HZ:g} s"
        )
    return num_samples


def _checked_int(
    name: str, value: object, *, minimum: int, maximum: int | None = None, meaning: str = ""
) -> int:
    meaning = meaning or f"an integer from {minimum} to {maximum}"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be {meaning}; got {value!r}")
    if int(value) < minimum or (maximum is not None and int(value) > maximum):
        raise ValueError(f"{name} must be {meaning}; got {value!r}")
    return int(value)


def _check_frequency(name: str, value: object) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(float(value))
        or not 0.0 < float(value) < _NYQUIST_HZ
    ):
        raise ValueError(
            f"{name} must be a finite frequency in Hz above 0 and below {_NYQUIST_HZ:g} "
            f"(the Nyquist frequency at {SAMPLE_RATE_HZ} Hz); got {value!r}"
        )


def _check_amplitude(value: object) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(float(value))
        or not 0.0 <= float(value) <= 1.0
    ):
        raise ValueError(f"amplitude must be a finite number from 0 to 1; got {value!r}")


def _format_s(seconds: float) -> str:
    """``8`` -> ``"8.0"``, ``8.25`` -> ``"8.25"``: one decimal unless more are needed."""
    return _format_number(float(seconds), minimum="{:.1f}")


def _format_number(value: float, minimum: str = "{:g}") -> str:
    """Shortest of ``minimum``'s format or ``repr`` that reads back as exactly ``value``."""
    text = minimum.format(value)
    return text if float(text) == value else repr(value)


def _amplitude_tag(amplitude: float, default: float) -> str:
    return "" if amplitude == default else f"-amp{_format_number(float(amplitude))}"


def _clip(
    name: str,
    samples: NDArray[np.float32],
    *,
    kind: str,
    reference: str | None = None,
    category: str | None = None,
) -> Clip:
    samples.flags.writeable = False  # ours alone: the Clip keeps it without copying
    return Clip(name=name, samples=samples, reference=reference, kind=kind, category=category)


def _generate(
    num_samples: int,
    block: Callable[[NDArray[np.float64]], NDArray[np.float64]],
    amplitude: float,
) -> NDArray[np.float32]:
    """``amplitude * block(sample indices)`` as float32, computed in blocks of 2**20 samples
    (in order, so a stateful ``block`` such as a random generator sees one stream)."""
    out = np.empty(num_samples, dtype=np.float32)
    for start in range(0, num_samples, _BLOCK_SAMPLES):
        stop = min(start + _BLOCK_SAMPLES, num_samples)
        indices = np.arange(start, stop, dtype=np.float64)
        out[start:stop] = block(indices) * amplitude
    return out


# Taylor coefficients of sin(x)/x and cos(x) in x**2, enough for |x| <= pi/4 to ~1e-17.
_SIN_COEFFICIENTS = tuple((-1.0) ** k / math.factorial(2 * k + 1) for k in range(8))
_COS_COEFFICIENTS = tuple((-1.0) ** k / math.factorial(2 * k) for k in range(9))


def _polynomial(x: NDArray[np.float64], coefficients: tuple[float, ...]) -> NDArray[np.float64]:
    result = np.full_like(x, coefficients[-1])
    for coefficient in reversed(coefficients[:-1]):
        result = result * x + coefficient
    return result


def _sin_turns(turns: NDArray[np.float64]) -> NDArray[np.float64]:
    """``sin(2 pi turns)`` using only IEEE-754 ``+ - *`` and ``floor``.

    numpy's ``sin`` may use SIMD math libraries whose last bits differ between CPUs; this
    does not. Reduce to the nearest quarter turn ``k`` and a remainder ``theta`` in
    [-pi/4, pi/4] (exactly, in turns), then ``sin(k pi/2 + theta)`` is ``+-sin(theta)`` or
    ``+-cos(theta)`` by Taylor polynomials accurate to about 1e-16.
    """
    quarters = (turns - np.floor(turns)) * 4.0
    nearest = np.floor(quarters + 0.5)
    theta = (quarters - nearest) * (math.pi / 2)
    theta_squared = theta * theta
    sine = theta * _polynomial(theta_squared, _SIN_COEFFICIENTS)
    cosine = _polynomial(theta_squared, _COS_COEFFICIENTS)
    quadrant = nearest.astype(np.int64) % 4
    return np.select(
        [quadrant == 0, quadrant == 1, quadrant == 2],
        [sine, cosine, -sine],
        default=-cosine,
    )


def _likely_sentence_count(texts: tuple[str, ...], num_samples: int, words_per_minute: int) -> int:
    """How many of ``texts`` (at most all) a clip of ``num_samples`` probably needs, plus one.

    Assumes about six characters per word, spoken a fifth faster than ``words_per_minute``
    (so it errs towards synthesizing a sentence too many rather than too few).
    """
    seconds_per_char = 60.0 / (words_per_minute * 6) / 1.2
    budget_s = num_samples / SAMPLE_RATE_HZ
    total_s = 0.0
    for count, text in enumerate(texts, start=1):
        total_s += len(text) * seconds_per_char + SENTENCE_GAP_S
        if total_s > budget_s:
            return min(count + 1, len(texts))
    return len(texts)


def _sentence_audio(
    texts: tuple[str, ...], voice: str, words_per_minute: int
) -> list[NDArray[np.float32]]:
    """Each text as read-only 16 kHz float32 speech, synthesized at most once per process."""
    with _sentence_cache_lock:
        missing = [
            text
            for text in dict.fromkeys(texts)
            if (text, voice, words_per_minute) not in _sentence_cache
        ]
        if missing:
            syntheses = espeak.synthesize(missing, voice=voice, words_per_minute=words_per_minute)
            for text, synthesis in zip(missing, syntheses, strict=True):
                audio = to_16k_mono(synthesis.samples, synthesis.sample_rate_hz)
                # Resampling can overshoot a full-scale int16 peak by a hair; keep [-1, 1].
                np.clip(audio, -1.0, 1.0, out=audio)
                audio.flags.writeable = False
                _sentence_cache[(text, voice, words_per_minute)] = audio
        return [_sentence_cache[(text, voice, words_per_minute)] for text in texts]
