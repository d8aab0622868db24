"""metrics.rtf and metrics.wer on known answers, worked by hand, and every way they refuse."""

from __future__ import annotations

import math

import pytest

from whisperbench.metrics import normalize_text, rtf, rtfx, wer

# -- RTF: a ratio of sums -------------------------------------------------------------------


def test_rtf_is_total_inference_over_total_audio() -> None:
    # 1 s for 4 s of audio and 2 s for 4 s: 3/8. A mean of ratios would give the same here...
    assert rtf([1.0, 2.0], [4.0, 4.0]) == 0.375
    # ...but not when clips differ in length: (1 + 1) / (1 + 9) = 0.2, the mean of ratios
    # (1/1 + 1/9) / 2 = 0.5556 weights the short clip as much as the long one.
    assert rtf([1.0, 1.0], [1.0, 9.0]) == 0.2


def test_rtf_of_one_clip_and_of_zero_time() -> None:
    assert rtf([0.5], [10.0]) == 0.05
    assert rtf([0.0, 0.0], [1.0, 2.0]) == 0.0


def test_rtf_sums_exactly() -> None:
    # fsum: ten 0.1 s rounds over ten 1 s clips is exactly 0.1, not 0.09999999999999999.
    assert rtf([0.1] * 10, [1.0] * 10) == 0.1


@pytest.mark.parametrize(
    ("inference_s", "audio_s", "message"),
    [
        ([1.0], [1.0, 2.0], "1 timings for 2 audio durations"),
        ([1.0, 1.0], [1.0], "2 timings for 1 audio durations"),
        ([-0.1], [1.0], "finite and >= 0, got -0.1"),
        ([1.0], [-1.0], "finite and >= 0, got -1.0"),
        ([math.nan], [1.0], "finite and >= 0, got nan"),
        ([1.0], [math.inf], "finite and >= 0, got inf"),
        ([1.0], [0.0], "total audio duration is 0 s"),
        ([], [], "total audio duration is 0 s"),
    ],
)
def test_rtf_refuses(inference_s: list[float], audio_s: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rtf(inference_s, audio_s)


def test_rtfx_is_the_inverse() -> None:
    assert rtfx(0.25) == 4.0
    assert rtfx(2.0) == 0.5
    assert rtfx(0.0) == math.inf


# -- WER: corpus level, after normalization ---------------------------------------------------


def test_wer_counts_substitutions_deletions_and_insertions() -> None:
    assert wer(["the cat sat on the mat"], ["the cat sat on the mat"]) == 0.0
    assert wer(["the cat sat on the mat"], ["the dog sat on the mat"]) == pytest.approx(1 / 6)
    assert wer(["the cat sat on the mat"], ["the cat sat on mat"]) == pytest.approx(1 / 6)
    assert wer(["the cat sat"], ["the cat sat down"]) == pytest.approx(1 / 3)
    assert wer(["the cat sat"], [""]) == 1.0
    # More words inserted than the reference holds: WER goes past 1.
    assert wer(["yes"], ["no no no"]) == 3.0


def test_wer_is_corpus_level_not_a_mean_of_sentences() -> None:
    # 1 error in 4 words, then 1 error in 2: 2/6 over the corpus; the mean of the two
    # sentences' WERs would be (1/4 + 1/2) / 2 = 0.375.
    assert wer(["a b c d", "e f"], ["a x c d", "e"]) == pytest.approx(2 / 6)


def test_wer_normalizes_case_punctuation_and_numbers_first() -> None:
    assert wer(["Hello, World!"], ["hello world"]) == 0.0
    assert wer(["It's twenty five past nine."], ["it is 25 past 9"]) == 0.0
    assert normalize_text("Hello, World!") == "hello world"


def test_wer_leaves_out_clips_with_an_empty_reference() -> None:
    # Nothing to measure against: the clip is not in the corpus (not an infinite WER).
    assert wer(["", "a b"], ["something was said", "a c"]) == pytest.approx(1 / 2)
    assert wer(["?!", "a b"], ["noise", "a b"]) == 0.0  # empty once normalized


@pytest.mark.parametrize(
    ("references", "hypotheses", "message"),
    [
        (["a"], ["a", "b"], "1 references for 2 hypotheses"),
        (["a", "b"], [], "2 references for 0 hypotheses"),
        ([""], ["anything"], "every reference is empty after normalization"),
        (["?!", "  "], ["a", "b"], "every reference is empty after normalization"),
        ([], [], "every reference is empty after normalization"),
    ],
)
def test_wer_refuses(references: list[str], hypotheses: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        wer(references, hypotheses)
