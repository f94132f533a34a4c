"""Benchmark: ``layerlab measure`` against ffmpeg's ebur128 filter and pyloudnorm.

Builds a deterministic 10-minute 48 kHz stereo music-like file (chords, bass,
drums, a noise bed, quiet and loud sections), then times, in the same run:

* Layer Lab in-process: ``measure_file`` (streams the file in blocks:
  integrated, M/S series and maxima, LRA, true peak, sample peak);
* Layer Lab as a command: ``python -m layerlab.cli measure FILE --json``
  (includes interpreter start-up and imports);
* ffmpeg: ``ffmpeg -nostats -i FILE -filter_complex ebur128=peak=true -f null -``
  (the static binary from imageio-ffmpeg; integrated, M/S, LRA, true peak);
* pyloudnorm: integrated loudness, plus a loudness range computed the way
  pyloudnorm computes blocks (its own K-weighting filters, one Python loop
  over 3 s blocks on a 100 ms step), since pyloudnorm has no LRA of its own.

It prints each tool's time (best of ``--repeat`` runs; pyloudnorm runs once),
the ratio to ffmpeg, the peak resident memory of the two commands (from
``/usr/bin/time``), and the values each tool measured, so speed is never
bought with a wrong answer.

Figures (the 2-core development machine, shared, so absolute times vary; ratios are in the same run):

* before (commit 061643d, whole-file read, scipy.signal imported): command 5.95 s vs ffmpeg 4.38 s
  (1.36x), of which 4.00 s start-up; in-process 2.20 s; peak memory about 380 MB (ffmpeg 37 MB).
* after (streamed, scipy.signal not imported, same machine far more loaded: load average 20-55):
  command 5.61 s vs ffmpeg 7.08 s (0.79x), start-up 1.03 s; in-process 5.17 s; peak memory
  42 MB (ffmpeg 37 MB). I -16.74 / LRA 9.67 / TP -0.41 against ffmpeg's -16.7 / 9.7 / -0.4.

Run: ``.venv/bin/python benchmarks/bench_loudness.py [--minutes 10] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from layerlab.io.audio import ffmpeg_exe  # noqa: E402
from layerlab.measure.meter import measure_file  # noqa: E402

TIME = "/usr/bin/time"  # GNU time, for the peak resident memory of a command
_PEAK_KB: dict[str, int] = {}


def _run_measured(name, cmd, **kw):
    """Run a command; record its peak resident memory (kB) under ``name`` when GNU time is there."""
    if Path(TIME).exists():
        proc = subprocess.run([TIME, "-f", "@@maxrss %M", *cmd], capture_output=True, text=True, **kw)
        m = re.search(r"@@maxrss (\d+)", proc.stderr)
        if m:
            _PEAK_KB[name] = max(_PEAK_KB.get(name, 0), int(m.group(1)))
        proc.stderr = proc.stderr[: proc.stderr.rfind("@@maxrss")] if m else proc.stderr
    else:
        proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, cmd, proc.stdout, proc.stderr)
    return proc

FS = 48000


def make_programme(minutes: float, seed: int = 2024) -> np.ndarray:
    """A music-like stereo programme, float32 (n, 2), peaks under full scale."""
    rng = np.random.default_rng(seed)
    n = int(minutes * 60 * FS)
    out = np.zeros((n, 2), dtype=np.float32)
    bar = 2 * FS  # 120 bpm, 4/4
    beat = bar // 4
    roots = [110.0, 146.83, 130.81, 98.0]  # A, D, C, G
    t_bar = np.arange(bar) / FS
    env_bar = np.minimum(1.0, t_bar / 0.02) * np.exp(-t_bar / 1.5)
    t_beat = np.arange(beat) / FS
    kick = np.sin(2 * np.pi * (50 + 80 * np.exp(-t_beat / 0.03)) * t_beat) * np.exp(-t_beat / 0.12)
    hat_env = np.exp(-t_beat / 0.02)
    for b0 in range(0, n, bar):
        k = b0 // bar
        section = (k // 16) % 4  # 32 s sections: quiet verse, chorus, bridge, loud chorus
        level = [0.25, 0.6, 0.4, 0.8][section]
        m = min(bar, n - b0)
        root = roots[k % 4]
        chord = sum(np.sin(2 * np.pi * root * r * t_bar[:m] + rng.uniform(0, 6.28)) for r in (2.0, 2.52, 3.0, 4.0))
        bass = np.sin(2 * np.pi * root * t_bar[:m]) + 0.3 * np.sin(2 * np.pi * 2 * root * t_bar[:m])
        left = 0.12 * chord * env_bar[:m] + 0.2 * bass * env_bar[:m] ** 0.5
        right = 0.12 * chord * env_bar[:m] * 0.9 + 0.2 * bass * env_bar[:m] ** 0.5
        drums = np.zeros(m)
        for j in range(4):
            s = j * beat
            if s >= m:
                break
            e = min(m, s + beat)
            drums[s:e] += 0.5 * kick[: e - s] if j % 2 == 0 else 0.25 * rng.standard_normal(e - s) * hat_env[: e - s]
        bed = 0.01 * rng.standard_normal((m, 2))
        block = np.stack([left + drums, right + drums], axis=1) * level + bed
        out[b0 : b0 + m] = block
    out = np.tanh(out * 1.2) / 1.2  # gentle saturation, like a bus compressor's curve
    return (out / np.abs(out).max() * 0.89).astype(np.float32)


def best_of(fn, repeat):
    times, value = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t0)
    return min(times), value


def run_layerlab_inprocess(path):
    return measure_file(path).to_dict()


def run_layerlab_cli(path):
    proc = _run_measured("cli", [sys.executable, "-m", "layerlab.cli", "measure", str(path), "--json"],
                         cwd=str(REPO))
    return json.loads(proc.stdout)


def run_startup():
    """What the command pays before it reads a sample: Python, numpy/scipy and the layerlab command line."""
    subprocess.run(
        [sys.executable, "-c", "import layerlab.cli as c; c.build_parser('measure'); import layerlab.measure.meter"],
        cwd=str(REPO), check=True,
    )


def run_ffmpeg(path):
    proc = _run_measured(
        "ffmpeg",
        [ffmpeg_exe(), "-nostats", "-hide_banner", "-i", str(path), "-filter_complex", "ebur128=peak=true",
         "-f", "null", "-"],
    )
    summary = proc.stderr[proc.stderr.rfind("Summary:"):]
    return {
        "integrated_lufs": float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary).group(1)),
        "lra_lu": float(re.search(r"LRA:\s+(-?[\d.]+) LU", summary).group(1)),
        "true_peak_dbtp": float(re.search(r"Peak:\s+(-?[\d.]+) dBFS", summary).group(1)),
    }


def run_pyloudnorm(path):
    import pyloudnorm

    data, rate = sf.read(str(path), dtype="float64", always_2d=True)
    meter = pyloudnorm.Meter(rate, filter_class="DeMan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        integrated = meter.integrated_loudness(data)
        # LRA the pyloudnorm way: its own filters, then a Python loop over 3 s blocks, 100 ms step
        y = data.copy()
        for filt in meter._filters.values():
            y = filt.apply_filter(y)
        block, step = int(3.0 * rate), int(0.1 * rate)
        padded = y  # no silence appended (as libebur128, ffmpeg and the kit)
        values = []
        for start in range(0, padded.shape[0] - block + 1, step):
            z = np.sum(padded[start : start + block] ** 2, axis=0) / block
            values.append(-0.691 + 10 * np.log10(max(float(np.sum(z)), 1e-30)))
        st = np.array(values)
        st = st[st > -70.0]
        energy = 10 ** ((st + 0.691) / 10)
        st = np.sort(st[st > -0.691 + 10 * np.log10(energy.mean()) - 20.0])
        lo = st[int(round((st.size - 1) * 0.10))]
        hi = st[int(round((st.size - 1) * 0.95))]
    return {"integrated_lufs": integrated, "lra_lu": float(hi - lo)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--repeat", type=int, default=3, help="runs per tool (best is kept); pyloudnorm runs once")
    ap.add_argument("--skip-pyloudnorm", action="store_true")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "programme.wav"
        t0 = time.perf_counter()
        sf.write(str(path), make_programme(args.minutes), FS, subtype="PCM_24")
        print(f"test file: {args.minutes:g} min, {FS} Hz stereo PCM_24 ({path.stat().st_size / 1e6:.0f} MB), "
              f"built in {time.perf_counter() - t0:.1f} s")

        rows = []
        t_ff, v_ff = best_of(lambda: run_ffmpeg(path), args.repeat)
        rows.append(("ffmpeg ebur128=peak=true", t_ff, v_ff))
        t_in, v_in = best_of(lambda: run_layerlab_inprocess(path), args.repeat)
        rows.append(("layerlab measure_file (streamed)", t_in, v_in))
        t_cli, v_cli = best_of(lambda: run_layerlab_cli(path), args.repeat)
        rows.append(("layerlab measure (command)", t_cli, v_cli))
        t_start, _ = best_of(run_startup, args.repeat)
        rows.append(("  of which start-up and imports", t_start, {}))
        if not args.skip_pyloudnorm:
            t_py, v_py = best_of(lambda: run_pyloudnorm(path), 1)
            rows.append(("pyloudnorm (I + LRA loop)", t_py, v_py))

    print()
    print(f"{'tool':34s} {'time':>8s} {'vs ffmpeg':>10s}   {'I (LUFS)':>9s} {'LRA (LU)':>9s} {'TP (dBTP)':>10s}")
    for name, t, v in rows:
        def f(key):
            x = v.get(key)
            return f"{x:9.2f}" if isinstance(x, (int, float)) else f"{'-':>9s}"

        print(f"{name:34s} {t:7.2f}s {t / t_ff:9.2f}x   {f('integrated_lufs')} {f('lra_lu')} {f('true_peak_dbtp'):>10s}")
    print()
    print(f"layerlab in-process is {t_ff / t_in:.2f}x the speed of ffmpeg; as a command {t_ff / t_cli:.2f}x, "
          f"of which {t_start:.2f} s is start-up (Python, numpy, soundfile and the meter modules), "
          f"so the command's own work runs at {t_ff / max(t_cli - t_start, 1e-9):.2f}x.")
    if _PEAK_KB:
        print("peak resident memory: " + ", ".join(f"{k} {v / 1024:.0f} MB" for k, v in sorted(_PEAK_KB.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
