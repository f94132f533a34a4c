"""``layerlab measure`` as a learner runs it: a real process on real files.

Known signals are written to WAV files, measured through the command line and
compared with the published answers, with the in-process meter and with
ffmpeg's independent ``ebur128`` filter. Bad input must end with one line on
stderr and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from layerlab.io.audio import ffmpeg_exe
from layerlab.cli import main
from layerlab.measure.loudness import Meter, integrated_loudness, k_weighting_sos
from signals import sine_dbfs as sine

KEYS = {
    "integrated_lufs",
    "true_peak_dbtp",
    "sample_peak_dbfs",
    "lra_lu",
    "max_momentary_lufs",
    "max_short_term_lufs",
    "sample_rate",
    "channels",
    "duration_s",
    "whole_clip",
    "lra_stable",
    "problems",
}


def run_process(*args, timeout=180):
    """``python -m layerlab.cli measure ...`` as a separate process."""
    return subprocess.run(
        [sys.executable, "-m", "layerlab.cli", "measure", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_cli(*args):
    """The same command line, run in this process (fast); an escaping exception fails the test."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["measure", *map(str, args)])
    return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


def assert_one_line_error(proc):
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("layerlab measure: error:")
    return lines[0]


@pytest.fixture(scope="module")
def tone_wav(tmp_path_factory):
    """Tech 3341 case 1 at 44.1 kHz, written as 24-bit PCM."""
    path = tmp_path_factory.mktemp("measure") / "tone_-23dbfs_44k1.wav"
    sf.write(str(path), sine(-23.0, 12.0, 44100), 44100, subtype="PCM_24")
    return path


def test_json_has_the_keys_and_the_published_values(tone_wav):
    proc = run_process(tone_wav, "--json")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    out = json.loads(proc.stdout)
    assert set(out) == KEYS
    assert out["sample_rate"] == 44100 and out["channels"] == 2
    assert out["duration_s"] == pytest.approx(12.0)
    for key in ("integrated_lufs", "max_momentary_lufs", "max_short_term_lufs"):
        assert out[key] == pytest.approx(-23.0, abs=0.1), key
    assert out["sample_peak_dbfs"] == pytest.approx(-23.0, abs=0.01)
    assert -23.4 <= out["true_peak_dbtp"] <= -22.8
    assert out["lra_lu"] is not None and 0.0 <= out["lra_lu"] < 3.0


def test_cli_reports_what_the_library_reports(tone_wav):
    out = json.loads(run_cli(tone_wav, "--json").stdout)
    data, rate = sf.read(str(tone_wav), dtype="float32", always_2d=True)
    expected = Meter(rate).measure(data).to_dict()
    for key in KEYS:
        assert out[key] == pytest.approx(expected[key], abs=1e-3), key


def test_cli_agrees_with_ffmpeg_ebur128(tmp_path):
    rng = np.random.default_rng(4)
    fs = 48000
    n = fs * 20
    noise = rng.standard_normal((n, 2)) * np.linspace(0.02, 0.2, n)[:, None]
    path = tmp_path / "ramp_noise.wav"
    sf.write(str(path), noise.astype(np.float32), fs, subtype="FLOAT")
    ours = json.loads(run_process(path, "--json").stdout)
    proc = subprocess.run(
        [ffmpeg_exe(), "-nostats", "-hide_banner", "-i", str(path), "-filter_complex", "ebur128=peak=true",
         "-f", "null", "-"],
        capture_output=True, text=True, timeout=120,
    )
    summary = proc.stderr[proc.stderr.rfind("Summary:"):]
    ff_i = float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary).group(1))
    ff_tp = float(re.search(r"Peak:\s+(-?[\d.]+) dBFS", summary).group(1))
    assert ours["integrated_lufs"] == pytest.approx(ff_i, abs=0.1)  # ffmpeg prints one decimal
    assert ours["true_peak_dbtp"] == pytest.approx(ff_tp, abs=0.3)


def test_summary_without_json(tone_wav):
    proc = run_cli(tone_wav)
    assert proc.returncode == 0 and proc.stderr == ""
    assert re.search(r"Integrated loudness : -23\.0 LUFS", proc.stdout)
    assert "44100 Hz, 2 ch" in proc.stdout


def test_silence_is_null_in_json(tmp_path):
    path = tmp_path / "silence.wav"
    sf.write(str(path), np.zeros((48000 * 5, 2)), 48000, subtype="PCM_16")
    proc = run_cli(path, "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out) == KEYS
    for key in KEYS - {"sample_rate", "channels", "duration_s", "whole_clip", "lra_stable", "problems"}:
        assert out[key] is None, key
    assert out["problems"] == [] and out["whole_clip"] is False
    assert "n/a" in run_cli(path).stdout


@pytest.mark.parametrize("fs", [8000, 22050, 96000, 192000])
def test_files_are_measured_at_their_own_rate(tmp_path, fs):
    path = tmp_path / f"tone_{fs}.wav"
    sf.write(str(path), sine(-20.0, 4.0, fs, freq_hz=500.0, channels=1), fs, subtype="PCM_24")
    out = json.loads(run_cli(path, "--json").stdout)
    assert out["sample_rate"] == fs and out["channels"] == 1
    # a 500 Hz tone at -20 dBFS in a mono file: mean square 0.01 / 2, counted twice (dual-mono),
    # times the K-weighting power gain at 500 Hz (taken from the published 48 kHz filter), -0.691
    _, h = signal.sosfreqz(k_weighting_sos(48000), worN=[500.0], fs=48000)
    expected = -0.691 + 10 * math.log10(2 * 0.5 * 10 ** (-20.0 / 10) * abs(h[0]) ** 2)
    assert out["integrated_lufs"] == pytest.approx(expected, abs=0.05)


def test_target_profile_pass_and_miss(tone_wav, tmp_path):
    miss = run_cli(tone_wav, "--json", "--target", "streaming")
    assert miss.returncode == 3
    out = json.loads(miss.stdout)
    assert out["target"]["profile"] == "streaming" and out["target"]["passed"] is False
    assert out["target"]["gain_to_target_db"] == pytest.approx(9.0, abs=0.1)
    ok = run_cli(tone_wav, "--target", "ebu_r128")
    assert ok.returncode == 0 and "loudness ok" in ok.stdout


def test_dialogue_gated_target_needs_and_uses_the_stem(tmp_path):
    fs = 48000
    speech = sine(-20.0, 2.0, fs, freq_hz=800.0)
    gap = np.zeros_like(speech)
    dialogue = np.concatenate([speech, gap, speech, gap])
    bed = sine(-28.0, dialogue.shape[0] / fs, fs, freq_hz=300.0)  # within 10 LU: integrated keeps it
    mix_path, stem_path = tmp_path / "mix.wav", tmp_path / "dialogue.wav"
    sf.write(str(mix_path), (dialogue + bed).astype(np.float32), fs, subtype="FLOAT")
    sf.write(str(stem_path), dialogue.astype(np.float32), fs, subtype="FLOAT")
    line = assert_one_line_error(run_cli(mix_path, "--target", "dialogue_gated"))
    assert "--dialogue" in line
    proc = run_cli(mix_path, "--json", "--target", "dialogue_gated", "--dialogue", stem_path)
    out = json.loads(proc.stdout)
    # the truth: the loudness of the mix while the dialogue speaks (edge blocks that hold a little
    # speech count as speech too, so the gated figure may sit a little under it)
    mix = (dialogue + bed).astype(np.float32)
    two_s = 2 * fs
    while_speaking = np.concatenate([mix[:two_s], mix[2 * two_s : 3 * two_s]])
    truth = integrated_loudness(while_speaking, sample_rate=fs)
    assert truth - 1.0 <= out["dialogue_gated_lufs"] <= truth + 0.1
    assert out["integrated_lufs"] < out["dialogue_gated_lufs"] - 1.0
    assert proc.returncode == 3  # -20 is far from -27 ±2


# --------------------------------------------------------------------------- bad input


def test_missing_file(tmp_path):
    line = assert_one_line_error(run_cli(tmp_path / "nope.wav"))
    assert "nope.wav" in line and "not found" in line


def test_empty_file(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    line = assert_one_line_error(run_cli(path))
    assert "empty" in line


def test_non_audio_bytes_named_wav(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_bytes(b"these are my mixing notes, not audio\n" * 20)
    line = assert_one_line_error(run_cli(path, "--json"))
    assert "notes.wav" in line


def test_nan_samples_in_a_float_wav(tmp_path):
    x = sine(-20.0, 2.0, 48000).astype(np.float32)
    x[1000, 0] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(str(path), x, 48000, subtype="FLOAT")
    line = assert_one_line_error(run_process(path, "--json"))
    assert "NaN" in line


def test_a_folder_instead_of_a_file(tmp_path):
    assert_one_line_error(run_cli(tmp_path))


def test_unsupported_rate_and_channel_count(tmp_path):
    low = tmp_path / "low_rate.wav"
    sf.write(str(low), np.zeros((4000, 1)), 4000, subtype="PCM_16")
    line = assert_one_line_error(run_cli(low))
    assert "4000 Hz" in line and "low_rate.wav" in line
    wide = tmp_path / "seven.wav"
    sf.write(str(wide), np.zeros((48000, 7)), 48000, subtype="PCM_16")
    line = assert_one_line_error(run_cli(wide))
    assert "7 channels" in line


def test_unknown_target_lists_the_profiles(tone_wav):
    line = assert_one_line_error(run_cli(tone_wav, "--target", "netflix"))
    assert "streaming" in line and "dialogue_gated" in line


def test_stem_that_does_not_line_up(tmp_path, tone_wav):
    short = tmp_path / "short.wav"
    sf.write(str(short), sine(-20.0, 1.0, 44100), 44100, subtype="PCM_16")
    line = assert_one_line_error(run_cli(tone_wav, "--dialogue", short))
    assert "short.wav" in line


def test_json_ends_with_a_newline_and_silence_reads_n_a(tmp_path):
    path = tmp_path / "silence.wav"
    sf.write(str(path), np.zeros((48000 * 4, 2)), 48000, subtype="PCM_16")
    proc = run_cli(path, "--json")
    assert proc.stdout.endswith("}\n") and proc.stdout.count("\n") == 1
    text = run_cli(path).stdout
    assert "n/a" in text and "-200" not in text and "-inf" not in text and "nan" not in text.lower().replace("n/a", "")


def test_mono_mix_reads_the_same_in_measure_and_check(tmp_path):
    """One policy (dual-mono): `layerlab measure` on a mono mix.wav = what `layerlab check` measures on it."""
    from layerlab.io.deliverable import read_deliverable
    from layerlab.measure.loudness import true_peak_dbtp

    fs = 48000
    rng = np.random.default_rng(8)
    mono = (0.1 * rng.standard_normal((fs * 6, 1)) * np.linspace(0.3, 1.0, fs * 6)[:, None]).astype(np.float32)
    folder = tmp_path / "deliverable"
    folder.mkdir()
    sf.write(str(folder / "mix.wav"), mono, fs, subtype="FLOAT")
    out = json.loads(run_cli(folder / "mix.wav", "--json").stdout)
    mix = read_deliverable(folder).audio("mix")  # what the check measures (up-mixed to stereo)
    assert mix.shape[1] == 2
    assert out["integrated_lufs"] == pytest.approx(integrated_loudness(mix, sample_rate=fs), abs=1e-3)
    assert out["true_peak_dbtp"] == pytest.approx(true_peak_dbtp(mix, sample_rate=fs), abs=1e-3)


def test_truncated_wav_is_flagged_in_one_line(tmp_path):
    fs = 48000
    path = tmp_path / "cut.wav"
    sf.write(str(path), sine(-20.0, 5.0, fs), fs, subtype="PCM_24")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 3 * 2 * fs])
    proc = run_process(path, "--json")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr
    assert json.loads(proc.stdout)["problems"] and json.loads(proc.stdout)["duration_s"] == pytest.approx(4.0)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "cut short" in lines[0] and str(path) in lines[0]
    text = run_cli(path).stdout
    assert sum("cut short" in ln for ln in text.splitlines()) == 1


def test_short_clip_is_measured_as_one_block(tmp_path):
    fs = 48000
    path = tmp_path / "click.wav"
    sf.write(str(path), sine(-20.0, 0.25, fs, freq_hz=997.0), fs, subtype="FLOAT")
    out = json.loads(run_cli(path, "--json").stdout)
    # a stereo 997 Hz sine at -20 dBFS reads -20 LUFS (Tech 3341 case 1 scaled); 0.25 s of it, as one block
    assert out["whole_clip"] is True and out["integrated_lufs"] == pytest.approx(-20.0, abs=0.1)
