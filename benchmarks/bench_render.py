"""Render speed of a 60 s four-layer stack with ducking.

Prints the time per render (cold: every clip re-rendered; warm: one fader
moved, as when a slider follows the mouse), per second of audio, and the ratio
against pydub mixing the same clips with ``overlay`` and ``apply_gain`` (no
ducking, no master) in the same run.

    .venv/bin/python benchmarks/bench_render.py
"""

from __future__ import annotations

import numpy as np

from _timing import median_s

from layerlab.io.audio import SAMPLE_RATE as SR, to_pydub
from layerlab.mix.ducking import Ducking
from layerlab.mix.stack import LayerStack

DURATION_S = 60.0
REPEATS = 7


def build_clips(seed=0):
    rng = np.random.default_rng(seed)
    n = int(DURATION_S * SR)
    t = np.arange(n) / SR
    music = (0.1 * np.sin(2 * np.pi * 110 * t) * (1 + 0.5 * np.sin(2 * np.pi * 0.5 * t)))[:, None].repeat(2, 1)
    ambience = 0.02 * rng.standard_normal((n, 2))
    lines = [(s, 0.2 * rng.standard_normal((int(2.5 * SR), 1)) * np.hanning(int(2.5 * SR))[:, None]) for s in range(2, 58, 5)]
    sfx = [(s + 0.5, 0.3 * rng.standard_normal((int(0.3 * SR), 2)) * np.exp(-np.arange(int(0.3 * SR)) / 2000)[:, None])
           for s in range(1, 59, 3)]
    f32 = lambda a: np.asarray(a, np.float32)  # noqa: E731
    return f32(music), f32(ambience), [(s, f32(x)) for s, x in lines], [(s, f32(x)) for s, x in sfx]


def build_stack(clips):
    music, ambience, lines, sfx = clips
    stack = LayerStack(duration_s=DURATION_S, ducking=Ducking(depth_db=12))
    stack.add("music", music, name="bed")
    stack.add("ambience", ambience, name="room")
    for i, (s, x) in enumerate(lines):
        stack.add("dialogue", x, start_s=s, fade_in_ms=10, fade_out_ms=30, name=f"l{i}")
    for i, (s, x) in enumerate(sfx):
        stack.add("sfx", x, start_s=s, name=f"fx{i}")
    return stack


def main():
    clips = build_clips()
    stack = build_stack(clips)

    def cold():
        for layer in stack:
            layer._cache_key = None
        stack._duck_cache = None
        stack.render(master=False)

    gains = iter(np.linspace(-20, 0, 1000))

    def warm():
        stack["music"].gain_db = float(next(gains))
        stack.render(master=False)

    music, ambience, lines, sfx = clips

    def pydub_mix():
        seg = to_pydub(music).apply_gain(-3).overlay(to_pydub(ambience))
        for s, x in lines + sfx:
            seg = seg.overlay(to_pydub(x), position=int(s * 1000))
        return seg

    t_cold = median_s(cold, repeats=REPEATS)
    t_warm = median_s(warm, repeats=REPEATS)
    t_pydub = median_s(pydub_mix, repeats=3)
    from layerlab.mix.master import Master

    stack.master = Master(target_lufs=-14.0)
    t_master = median_s(lambda: stack.render(), repeats=3)

    print(f"60 s four-layer stack, 12 lines, 20 SFX, ducking on ({REPEATS} runs, median)")
    print(f"  layerlab cold render      {t_cold * 1e3:8.1f} ms  ({t_cold / DURATION_S * 1e3:.2f} ms per second of audio)")
    print(f"  layerlab fader move       {t_warm * 1e3:8.1f} ms  ({t_warm / DURATION_S * 1e3:.2f} ms per second of audio)")
    print(f"  layerlab render + master  {t_master * 1e3:8.1f} ms  (loudness normalisation + true-peak limiter)")
    print(f"  pydub overlay (peer)      {t_pydub * 1e3:8.1f} ms  (no ducking, no master)")
    print(f"  ratio pydub / layerlab cold: {t_pydub / t_cold:.1f}x, pydub / layerlab fader move: {t_pydub / t_warm:.1f}x")


if __name__ == "__main__":
    main()
