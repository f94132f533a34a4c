"""``layerlab measure``: loudness, loudness range and peaks of one audio file.

The file is measured at its own sample rate (never resampled, which would
change its true peak). With ``--json`` the output is one JSON object with the
keys ``integrated_lufs, true_peak_dbtp, sample_peak_dbfs, lra_lu,
max_momentary_lufs, max_short_term_lufs, sample_rate, channels, duration_s``
(``null`` where a value does not exist, e.g. the loudness of silence; the
summary says "n/a"), then ``whole_clip`` (a clip under 0.4 s, measured as one
block), ``lra_stable`` (false under 60 s: EBU Tech 3341 asks meters to flag LRA
as not stable there) and ``problems`` (e.g. a WAV cut short: measured, and
flagged in one line). The JSON ends with a newline. The file is streamed in
blocks, so memory does not grow with its length; a mono file is measured as
dual-mono, as ``layerlab check`` reads it (see :mod:`layerlab.measure.kweighting`). With
``--target PROFILE`` the result is also compared with a delivery profile
(:mod:`layerlab.measure.targets`); the JSON then gains a ``"target"`` object and the
exit status is 3 when the file misses the target. ``--dialogue STEM`` adds
dialogue-gated loudness (speech found in the dialogue stem), which the
``dialogue_gated`` profile is checked on.

Examples::

    layerlab measure mix.wav
    layerlab measure mix.wav --json --target streaming
    layerlab measure mix.wav --target dialogue_gated --dialogue stems/dialogue.wav

Taught in ``lessons/08_measuring_the_mix.ipynb``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

from layerlab.errors import AudioError, ParameterError
from layerlab.measure.targets import PROFILE_NAMES, get_profile

# The measurement modules are imported in run(): building the parser (and
# `layerlab --help`) stays cheap, and the command imports only the meter.

EXIT_MISSES_TARGET = 3


def configure(parser: argparse.ArgumentParser) -> None:
    """Attach the ``measure`` arguments to a parser."""
    parser.add_argument("file", metavar="FILE", help="audio file (WAV, FLAC, MP3, or a video's audio track)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a summary")
    parser.add_argument(
        "--target",
        metavar="PROFILE",
        help=f"also check against a delivery profile ({', '.join(PROFILE_NAMES)})",
    )
    parser.add_argument(
        "--dialogue",
        metavar="STEM",
        help="dialogue stem of the same length and rate: also report dialogue-gated loudness "
        "(needed for the dialogue_gated profile)",
    )
    parser.add_argument(
        "--step-ms", type=float, default=10.0, help="step of the momentary/short-term series (default 10 ms)"
    )


def run(args: argparse.Namespace) -> int:
    """Measure ``args.file`` and print the result; return the exit status."""
    profile = get_profile(args.target) if args.target else None
    if profile is not None and profile.dialogue_gated and not args.dialogue:
        raise ParameterError(
            f"--target {profile.name} measures loudness on dialogue only: pass the dialogue stem with --dialogue STEM."
        )
    from layerlab.measure.meter import measure_file

    report = measure_file(args.file, step_ms=args.step_ms)
    out = report.to_dict()
    gated = None
    if args.dialogue:
        gated = _dialogue_gated(args.file, args.dialogue)
        out["dialogue_gated_lufs"] = None if not math.isfinite(gated) else round(gated, 4)
    check = None
    if profile is not None:
        level = gated if profile.dialogue_gated else report.integrated_lufs
        check = profile.check(loudness_lufs=level, true_peak_dbtp=report.true_peak_dbtp)
    if args.json:
        if check is not None:
            out["target"] = check.to_dict()
        sys.stdout.write(json.dumps(out) + "\n")
        for problem in report.problems:  # also one line on stderr, where scripts look for trouble
            print(f"layerlab measure: warning: {problem}", file=sys.stderr)
    else:
        print(f"{args.file}")
        print(report.summary())
        if gated is not None:
            value = f"{gated:.1f} LUFS" if math.isfinite(gated) else "n/a (no speech found in the stem)"
            print(f"Dialogue-gated      : {value}")
        if check is not None:
            print(f"Target              : {profile.title}: {profile.describe()}")
            loud = "ok" if check.loudness_ok else "MISSED"
            peak = "ok" if check.true_peak_ok else "MISSED"
            line = f"Result              : loudness {loud}, true peak {peak}"
            if check.gain_to_target_db is not None and not check.loudness_ok:
                line += f" (change the gain by {check.gain_to_target_db:+.1f} dB to reach the target)"
            print(line)
    if check is not None and not check.passed:
        return EXIT_MISSES_TARGET
    return 0


def _dialogue_gated(mix_path, stem_path) -> float:
    """Dialogue-gated loudness of a mix file, with speech found in its dialogue stem."""
    from layerlab.io.audio import read_audio
    from layerlab.measure.loudness import gated_loudness, speech_mask_from_stem

    mix = read_audio(mix_path)
    stem = read_audio(stem_path)
    if stem.sample_rate != mix.sample_rate:
        raise AudioError(
            f"{stem.path}: sample rate {stem.sample_rate} Hz differs from the mix ({mix.sample_rate} Hz); "
            "export the stem from the same session as the mix."
        )
    if stem.samples.shape[0] != mix.samples.shape[0]:
        raise AudioError(
            f"{stem.path}: {stem.samples.shape[0]} samples, the mix has {mix.samples.shape[0]}; "
            "export the stem from the same render so they line up."
        )
    mask = speech_mask_from_stem(stem.samples, sample_rate=stem.sample_rate)
    return gated_loudness(mix.samples, mask=mask, sample_rate=mix.sample_rate)
