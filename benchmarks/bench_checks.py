"""Speed of ``layerlab check`` on a scene's reference deliverable and on its native render.

Prints the time of :func:`layerlab.checks.run_checks` (all eleven checks: reading the folder,
sync, masking, ducking, loudness, ...) and the ratio against a peer measured in the same run:
ffmpeg's ``ebur128=peak=true`` filter measuring loudness and true peak of the same mix (the one
number a plain loudness meter gives). The native render additionally estimates its stems from
the scene's clips.

    .venv/bin/python benchmarks/bench_checks.py [SCENE_ID]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from _timing import median_s

from layerlab.io.audio import ffmpeg_exe
from layerlab.checks import load_cues, run_checks
from layerlab.mix.scenes import hybrid_stack
from layerlab.mix.session import export_deliverable

REPEATS = 3


def ffmpeg_ebur128(path: Path) -> None:
    cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-nostats", "-i", str(path),
           "-filter_complex", "ebur128=peak=true", "-f", "null", "-"]
    subprocess.run(cmd, capture_output=True, check=True)


def main(scene_id: str = "cafe_dialogue") -> None:
    cues = load_cues(scene_id)
    with tempfile.TemporaryDirectory() as tmp:
        out = export_deliverable(hybrid_stack(scene_id), Path(tmp) / "deliverable")
        run_checks(out, scene=scene_id)  # warm imports and caches
        peer = median_s(lambda: ffmpeg_ebur128(out / "mix.wav"), repeats=REPEATS)
        ours = median_s(lambda: run_checks(out, scene=scene_id), repeats=REPEATS)
        native = cues.folder / cues.raw["native"]["clip"]
        nat = median_s(lambda: run_checks(native, scene=scene_id), repeats=REPEATS)
    print(f"scene {scene_id}, {cues.duration_s:g} s")
    print(f"ffmpeg ebur128 (loudness + true peak only): {peak_fmt(peer)}")
    print(f"run_checks, deliverable with stems:          {peak_fmt(ours)}  ratio {ours / peer:.1f}x")
    print(f"run_checks, native premix (stems estimated): {peak_fmt(nat)}  ratio {nat / peer:.1f}x")


def peak_fmt(t: float) -> str:
    return f"{t * 1000:8.0f} ms"


if __name__ == "__main__":
    main(*sys.argv[1:2])
