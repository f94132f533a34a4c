"""Malformed deliverables through the grader's measuring path: no crash, a clear message, the rest still measured.

Each case starts from the lab-2 reference mix exported by the engine and breaks one
thing (one file's bytes, rate, channels, format, length, or the folder's contents),
then runs what ``layerlab grade`` runs on a learner's export:
``grading.measure_deliverable`` and ``grading.score_mix`` with the lab's rubric.
Cases are measured two at a time in worker processes, as a class would be.
"""

from __future__ import annotations

import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from layerlab import grading
from layerlab.grading import assignment_spec, load_rubric

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
RUBRIC = load_rubric(REPO / "autograder" / "rubric.json")
SPEC = assignment_spec("lab2_hybrid_mix", RUBRIC)
STEMS = ("dialogue", "sfx", "ambience", "music")
# words of advice: every message about a broken file says what to do about it
FIX_WORDS = ("export", "re-export", "write", "save", "remove", "delete", "resample", "render", "convert", "lower", "keep",
             "fix", "use ", "make", "trim", "pad", "replace", "put", "add", "move", "rename", "turn")


def _read(p: Path):
    data, sr = sf.read(str(p), dtype="float32", always_2d=True)
    return data, sr


def _write(p: Path, data, sr=48000, subtype="PCM_24"):
    sf.write(str(p), data, sr, subtype=subtype)


def _mix(d):
    return d / "mix.wav"


def _stem(d, name):
    return d / "stems" / f"{name}.wav"


def _empty(d):
    _mix(d).write_bytes(b"")


def _not_audio(d):
    _mix(d).write_bytes(b"<html><body>Not a WAV file at all, just a web page saved with a .wav name</body></html>" * 50)


def _truncated_header(d):
    _mix(d).write_bytes(_mix(d).read_bytes()[:22])


def _truncated_data(d):
    raw = _mix(d).read_bytes()
    _mix(d).write_bytes(raw[: len(raw) // 3])


def _nan(d):
    x, sr = _read(_mix(d))
    x[48000:48100] = np.nan
    _write(_mix(d), x, sr, "FLOAT")


def _inf(d):
    x, sr = _read(_mix(d))
    x[96000:96010, 0] = np.inf
    _write(_mix(d), x, sr, "FLOAT")


def _zero(d):
    x, sr = _read(_mix(d))
    _write(_mix(d), np.zeros_like(x), sr)


def _rate(d):
    import scipy.signal

    x, _ = _read(_mix(d))
    _write(_mix(d), scipy.signal.resample_poly(x, 147, 160, axis=0).astype(np.float32), 44100)


def _mono(d):
    x, sr = _read(_mix(d))
    _write(_mix(d), x.mean(axis=1), sr)


def _six(d):
    x, sr = _read(_mix(d))
    six = np.zeros((len(x), 6), np.float32)
    six[:, :2] = x
    _write(_mix(d), six, sr)


def _u8(d):
    x, sr = _read(_mix(d))
    _write(_mix(d), x, sr, "PCM_U8")


def _f64(d):
    x, sr = _read(_mix(d))
    _write(_mix(d), x.astype(np.float64), sr, "DOUBLE")


def _stem_longer(d):
    x, sr = _read(_stem(d, "music"))
    _write(_stem(d, "music"), np.concatenate([x, np.zeros((3 * sr, 2), np.float32)]), sr)


def _stem_shorter(d):
    x, sr = _read(_stem(d, "sfx"))
    _write(_stem(d, "sfx"), x[: len(x) - 3 * sr], sr)


def _missing_stem(d):
    _stem(d, "ambience").unlink()


def _no_stems(d):
    shutil.rmtree(d / "stems")


def _no_mix(d):
    _mix(d).unlink()


def _extra(d):
    (d / "notes.txt").write_text("my notes")
    _write(d / "stems" / "foley.wav", np.zeros((48000, 2), np.float32))


def _three_hours(d):
    # a real RIFF/WAVE header for 3 h of 48 kHz stereo 16-bit, the body left sparse on disk
    n = 3 * 3600 * 48000
    data_bytes = n * 4
    import struct

    header = (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE" + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 2, 48000, 48000 * 4, 4, 16)
              + b"data" + struct.pack("<I", data_bytes))
    with open(_mix(d), "wb") as fh:
        fh.write(header)
        fh.truncate(len(header) + data_bytes)


def _clipped(d):
    x, sr = _read(_mix(d))
    _write(_mix(d), np.clip(x * 6.0, -1.0, 1.0), sr)


def _stems_dont_add_up(d):
    x, sr = _read(_stem(d, "music"))
    _write(_stem(d, "music"), x * 0.2, sr)


def _stem_nan(d):
    x, sr = _read(_stem(d, "dialogue"))
    x[10000:10100] = np.nan
    _write(_stem(d, "dialogue"), x, sr, "FLOAT")


def _stem_empty(d):
    _stem(d, "music").write_bytes(b"")


def _stem_rate(d):
    import scipy.signal

    x, _ = _read(_stem(d, "ambience"))
    _write(_stem(d, "ambience"), scipy.signal.resample_poly(x, 147, 160, axis=0).astype(np.float32), 44100)


def _stem_not_audio(d):
    _stem(d, "sfx").write_bytes(b"ID3\x03\x00\x00\x00" + bytes(range(256)) * 40)  # an MP3 tag, renamed .wav


# checks measured on the stems alone: a broken mix leaves them as they are
STEM_CHECKS = ("sync", "dialogue_sync", "masking", "ducking", "dialogue_noise_floor")
# case -> (breaker, the file the message must name, checks measured on intact files: same verdict as on the reference)
CASES = {
    "empty_mix": (_empty, "mix.wav", STEM_CHECKS),
    "not_audio_mix": (_not_audio, "mix.wav", STEM_CHECKS),
    "truncated_header": (_truncated_header, "mix.wav", STEM_CHECKS),
    "truncated_data": (_truncated_data, "mix.wav", ("masking", "dialogue_noise_floor")),
    "nan_mix": (_nan, "mix.wav", STEM_CHECKS),
    "inf_mix": (_inf, "mix.wav", STEM_CHECKS),
    # a silent mix.wav reads well, and what the listener hears is judged: sync fails on it (test below)
    "all_zero_mix": (_zero, "mix.wav", ("dialogue_sync", "dialogue_noise_floor")),
    "wrong_rate_mix": (_rate, "mix.wav", ("dialogue_sync", "dialogue_noise_floor")),
    "mono_mix": (_mono, "mix.wav", ("dialogue_sync", "dialogue_noise_floor")),
    "six_channel_mix": (_six, "mix.wav", ("dialogue_sync", "dialogue_noise_floor")),
    "8bit_mix": (_u8, "mix.wav", ("dialogue_sync", "dialogue_noise_floor")),
    "64bit_mix": (_f64, "mix.wav", ("dialogue_sync", "dialogue_noise_floor", "loudness", "true_peak")),
    "stem_longer": (_stem_longer, "stems/music.wav", ("dialogue_sync", "loudness", "dialogue_noise_floor")),
    "stem_shorter": (_stem_shorter, "stems/sfx.wav", ("dialogue_sync", "loudness", "dialogue_noise_floor")),
    "missing_stem": (_missing_stem, "stems/ambience.wav", ("dialogue_sync", "loudness", "true_peak", "dialogue_noise_floor")),
    "no_stems_folder": (_no_stems, "stems/", ("loudness", "true_peak")),
    "no_mix": (_no_mix, "mix.wav", ("dialogue_sync", "dialogue_noise_floor")),
    "extra_files": (_extra, "notes.txt", ("sync", "dialogue_sync", "loudness", "true_peak", "masking", "ducking",
                                          "ambience_continuity", "dialogue_noise_floor")),
    "three_hour_mix": (_three_hours, "mix.wav", STEM_CHECKS),
    "hard_clipped_mix": (_clipped, "mix.wav", ("dialogue_sync", "dialogue_noise_floor")),
    "stems_dont_add_up": (_stems_dont_add_up, "stems", ("dialogue_sync", "loudness", "true_peak", "dialogue_noise_floor")),
    "nan_stem": (_stem_nan, "stems/dialogue.wav", ("loudness", "true_peak")),
    "empty_stem": (_stem_empty, "stems/music.wav", ("dialogue_sync", "loudness", "true_peak", "dialogue_noise_floor")),
    "stem_wrong_rate": (_stem_rate, "stems/ambience.wav", ("dialogue_sync", "loudness", "true_peak", "dialogue_noise_floor")),
    "stem_not_audio": (_stem_not_audio, "stems/sfx.wav", ("dialogue_sync", "loudness", "true_peak", "dialogue_noise_floor")),
}
# problems the kit records as warnings: they cost no points
WARNING_ONLY = {"extra_files"}


def _measure(folder: str):
    try:
        results, _ = grading.measure_deliverable(folder, scene=SPEC["scene"], target=SPEC["target"], figures=False)
    except Exception as exc:  # noqa: BLE001 - the test reports it as the failure it is
        return {"crash": f"{type(exc).__name__}: {exc}"}
    items = grading.score_mix(results, {}, SPEC)
    return {"results": {k: (bool(r.passed), str(r.message)) for k, r in results.items()},
            "items": {i.name: (i.points, i.message) for i in items}}


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    from test_adversarial import _reference_deliverable

    root = tmp_path_factory.mktemp("malformed")
    ref = root / "reference"
    _reference_deliverable(ref)
    folders = {"reference": ref}
    for case, (breaker, _, _) in CASES.items():
        d = root / case
        shutil.copytree(ref, d)
        breaker(d)
        folders[case] = d
    with ProcessPoolExecutor(max_workers=2) as pool:
        out = dict(zip(folders, pool.map(_measure, [str(p) for p in folders.values()])))
    return out


def test_at_least_twenty_cases():
    assert len(CASES) >= 20


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_deliverable_is_explained_and_the_rest_still_measured(measured, case):
    _, names, still_pass = CASES[case]
    got = measured[case]
    assert "crash" not in got, got
    results, items = got["results"], got["items"]
    # every rubric check ran and has a verdict, and every item has a message
    assert set(items) == {it["check"] for it in SPEC["items"]}
    assert all(msg for _, msg in items.values())
    # the problem is reported: the format or stems_sum gate fails (warnings only: format passes with a note)
    fmt_ok, fmt_msg = results["format"]
    gate_msgs = [m for g, (ok, m) in results.items() if g in ("format", "stems_sum") and (not ok or g == "format")]
    text = " ".join(gate_msgs)
    if case in WARNING_ONLY:
        assert fmt_ok and names in fmt_msg
        ref_items = measured["reference"]["items"]
        assert {k: p for k, (p, _) in items.items()} == {k: p for k, (p, _) in ref_items.items()}
    else:
        assert not (fmt_ok and results["stems_sum"][0]), (case, results["format"], results["stems_sum"])
        assert sum(p for p, _ in items.values()) == 0  # a failed gate: nothing is scored from untrustworthy files
        assert names in text, (case, text)
        assert any(w in text.lower() for w in FIX_WORDS), (case, text)
        # points withheld by the gate say why, naming the gate
        assert all("Not scored" in m or not results[k][0] for k, (_, m) in items.items()), case
    # unaffected checks were still measured on the intact files, with the reference's verdict
    reference = measured["reference"]["results"]
    assert still_pass or case in ("no_mix",), case
    for name in still_pass:
        assert results[name][0] == reference[name][0], (case, name, results[name][1])
    assert sum(results[name][0] for name in still_pass) >= len(still_pass) - 1


def test_a_silent_mix_fails_sync_although_the_stems_are_in_sync(measured):
    ok, msg = measured["all_zero_mix"]["results"]["sync"]
    assert not ok and "not heard in mix.wav" in msg, msg  # each effect is on stems/sfx.wav, none in the mix
    assert measured["reference"]["results"]["sync"][0]


def test_reference_deliverable_passes_its_gates(measured):
    results = measured["reference"]["results"]
    assert results["format"][0] and results["stems_sum"][0]
