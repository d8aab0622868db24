"""Engines and settings side by side, round by round: the paired check behind the suite's
engines table.

Run: ``python benchmarks/engines_paired.py [--models tiny.en,base] [--duration 10]
[--pairs 8] [--threads N] [--settings transformers:float32,transformers:int8,...]``

The suite measures cells one after another (``pytest benchmarks --whisper-engines
transformers,ctranslate2 ...``, see the README); on a shared machine the load drifts between
cells. This script opens one session per setting through the same session API the suite uses
(``RunOptions`` -> ``open_session``: the same engines, weights, audio and decoding), warms
each up until a round compiles nothing, then runs one round of every setting in turn, again
and again (A B C D E A B C D E ...), so each cycle compares the settings under the same load.
It prints, per setting: median seconds per round, the median over cycles of its round time
over the reference's (CTranslate2 int8), the spread of that ratio, compile seconds, and the
agreement (WER of its transcript against the reference's). Not a test: timing assertions do
not belong in the test suite.

Settings are ``engine:dtype[:static][:compile]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

from whisperbench import metrics
from whisperbench.audio.batches import synthetic_batch
from whisperbench.options import RunOptions
from whisperbench.session import Session, open_session

DEFAULT_SETTINGS = (
    "ctranslate2:int8,ctranslate2:float32,transformers:float32,transformers:int8,"
    "transformers:float32:static:compile"
)
_MAX_WARMUP = 6


def options_for(
    setting: str, model: str, duration_s: float, threads: int | None = None
) -> RunOptions:
    """The run options of ``engine:dtype[:static][:compile]``."""
    engine, dtype, *extras = setting.split(":")
    return RunOptions(
        model=model, engine=engine, dtype=dtype, device="cpu", weights="packaged",
        audio="short", audio_duration_s=duration_s, idle_s=0, threads=threads,
        kv_cache="static" if "static" in extras else "dynamic",
        torch_compile="on" if "compile" in extras else "off",
    )  # fmt: skip


def warm_up(session: Session, samples: list) -> tuple[float, int]:  # type: ignore[type-arg]
    """Rounds until one compiles nothing (at least two); returns (compile s, rounds)."""
    compile_s = 0.0
    for done in range(1, _MAX_WARMUP + 1):
        round_ = session.transcriber(samples)
        compile_s += round_.compile_s
        if done >= 2 and round_.compiles == 0:
            return compile_s, done
    raise RuntimeError(f"still compiling after {_MAX_WARMUP} warm-up rounds")


def compare(
    model: str, settings: list[str], duration_s: float, pairs: int, threads: int | None
) -> None:
    (clip,) = synthetic_batch("short", duration_s, 1)
    samples = [clip.samples]
    sessions = {s: open_session(options_for(s, model, duration_s, threads)) for s in settings}
    try:
        compile_s = {s: warm_up(session, samples)[0] for s, session in sessions.items()}
        times: dict[str, list[float]] = {s: [] for s in settings}
        texts: dict[str, str] = {}
        compiles_in_window = 0
        for _ in range(pairs):
            for setting, session in sessions.items():
                round_ = session.transcriber(samples)
                times[setting].append(round_.times.inference_s)
                texts[setting] = round_.texts[0]
                compiles_in_window += round_.compiles
    finally:
        for session in sessions.values():
            session.close()
    reference = settings[0]
    print(f"\n{model}: {duration_s:g} s of speech, {pairs} cycles, reference {reference}, "
          f"threads {threads or 'torch default'}, "
          f"compilations inside the cycles: {compiles_in_window}")  # fmt: skip
    print("| setting | median s/round | ratio to reference (median, min-max) | compile s "
          "| agreement WER | WER vs spoken |")  # fmt: skip
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for setting in settings:
        ratios = [a / b for a, b in zip(times[setting], times[reference], strict=True)]
        agreement = metrics.wer([texts[reference]], [texts[setting]])
        spoken = metrics.wer([clip.reference or ""], [texts[setting]])
        print(f"| {setting} | {statistics.median(times[setting]):.3f} "
              f"| {statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f}) "
              f"| {compile_s[setting]:.1f} | {agreement:.3f} | {spoken:.3f} |")  # fmt: skip
    for setting in settings:
        print(f"  {setting}: {texts[setting]!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="tiny.en,base")
    parser.add_argument("--settings", default=DEFAULT_SETTINGS)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None, help="torch and CTranslate2 threads")
    args = parser.parse_args()

    import transformers

    transformers.logging.set_verbosity_error()
    started = time.perf_counter()
    for model in args.models.split(","):
        compare(model, args.settings.split(","), args.duration, args.pairs, args.threads)
    print(f"\n({time.perf_counter() - started:.0f} s in all)")


if __name__ == "__main__":
    main()
