"""Our int8 CPU path against CTranslate2 int8 (faster-whisper's engine), side by side.

Run: ``python benchmarks/int8_vs_ctranslate2.py [--rounds 10] [--duration 10]``
(needs ``ctranslate2``, in the test extra).

For tiny.en and base, on the same real packaged weights and the same synthetic speech, one
process alternates (A B A B ...) per round:

- A: whisperbench's Transcriber, dtype int8 (dynamic quantization of every nn.Linear);
- B: ``ctranslate2.models.Whisper(compute_type="int8")`` on the packaged CTranslate2 files,
  fed the same log-mel features, greedy, same prompt.

Each side's round is waveform -> text (features, generate, detokenize). Prints median seconds
per round, the ratio ours/CTranslate2 (below 1: ours is faster) and whether the transcripts
match. Not a test: timing assertions do not belong in the test suite.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import torch

from whisperbench.audio.batches import synthetic_batch
from whisperbench.models.packaged import PACKAGED_MODELS, locate_source_files
from whisperbench.options import RunOptions
from whisperbench.session import open_session


def ctranslate2_int8(model_id: str, threads: int) -> Any:
    import ctranslate2

    source = locate_source_files(PACKAGED_MODELS[model_id])
    files = {"model.bin": b"".join(part.read_bytes() for part in source.model_parts)}
    for name in ("config.json", "vocabulary.json", "vocabulary.txt"):
        if (source.support_dir / name).is_file():
            files[name] = (source.support_dir / name).read_bytes()
    return ctranslate2.models.Whisper(
        f"packaged-{model_id}", device="cpu", compute_type="int8", intra_threads=threads,
        files=files,
    )  # fmt: skip


def compare(model_id: str, clip: Any, rounds: int, threads: int) -> None:
    """Alternate the two engines round by round on one model and print the figures."""

    options = RunOptions(model=model_id, dtype="int8", device="cpu", weights="packaged", idle_s=0)
    with open_session(options) as session:
        _alternate(session, model_id, clip, rounds, threads)


def _alternate(session: Any, model_id: str, clip: Any, rounds: int, threads: int) -> None:
    import ctranslate2

    loaded, spec = session.loaded, session.checked.spec
    ct2 = ctranslate2_int8(model_id, threads)
    tokenizer = loaded.processor.tokenizer
    prompt_tokens = ["<|startoftranscript|>", "<|notimestamps|>"]
    if not spec.english_only:
        prompt_tokens[1:1] = ["<|en|>", "<|transcribe|>"]
    prompt = tokenizer.convert_tokens_to_ids(prompt_tokens)

    def ct2_round() -> str:
        features = loaded.processor.feature_extractor(
            [clip.samples], sampling_rate=16_000, return_tensors="np"
        ).input_features
        (result,) = ct2.generate(
            ctranslate2.StorageView.from_array(features), [prompt], beam_size=1
        )
        return str(tokenizer.decode(result.sequences_ids[0], skip_special_tokens=True)).strip()

    ours_s: list[float] = []
    theirs_s: list[float] = []
    transcriber = session.transcriber
    ours_text, theirs_text = transcriber([clip.samples]).texts[0], ct2_round()  # warm-up
    for _ in range(rounds):
        started = time.perf_counter()
        transcriber([clip.samples])
        ours_s.append(time.perf_counter() - started)
        started = time.perf_counter()
        ct2_round()
        theirs_s.append(time.perf_counter() - started)
    ours, theirs = statistics.median(ours_s), statistics.median(theirs_s)
    print(
        f"{model_id}: {clip.duration_s:g} s speech, {rounds} rounds each, {threads} threads\n"
        f"  whisperbench int8 : median {ours:.4f} s/round (min {min(ours_s):.4f})\n"
        f"  CTranslate2 int8  : median {theirs:.4f} s/round (min {min(theirs_s):.4f})\n"
        f"  ratio ours/ct2    : {ours / theirs:.3f} (median), "
        f"{min(ours_s) / min(theirs_s):.3f} (min)\n"
        f"  same transcript   : {ours_text == theirs_text}\n"
        f"    ours: {ours_text!r}\n    ct2 : {theirs_text!r}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="tiny.en,base")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()

    import transformers

    transformers.logging.set_verbosity_error()
    (clip,) = synthetic_batch("short", args.duration, 1)
    for model_id in args.models.split(","):
        compare(model_id, clip, args.rounds, torch.get_num_threads())


if __name__ == "__main__":
    main()
