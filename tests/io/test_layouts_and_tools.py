"""Files from the real world: channel masks, truncated WAVs, and no ffmpeg (issue #15)."""

import os
import re
import struct
import subprocess
import sys
import warnings

import numpy as np
import pytest
import soundfile as sf

import layerlab
from layerlab.errors import MissingToolError
from layerlab.io.audio import TruncatedAudioWarning, ffmpeg_exe, read_audio, remix_channels, wav_layout

SR = 48_000
K = np.float32(0.70710677)


def _write_with_mask(path, audio, mask):
    """Write a WAVE_FORMAT_EXTENSIBLE file and set its dwChannelMask (byte 20 of the fmt chunk)."""
    sf.write(path, audio, SR, format="WAVEX", subtype="PCM_24")
    raw = bytearray(path.read_bytes())
    fmt = raw.index(b"fmt ")
    assert struct.unpack("<H", raw[fmt + 8 : fmt + 10])[0] == 0xFFFE  # an extensible header
    raw[fmt + 8 + 20 : fmt + 8 + 24] = struct.pack("<I", mask)
    path.write_bytes(bytes(raw))


def _distinct_channels(n, seconds=0.1):
    """Channel i holds the constant 0.05 * (i + 1), so every channel is recognisable after a remix."""
    return np.tile((0.05 * (np.arange(n) + 1)).astype(np.float32), (int(seconds * SR), 1))


def test_channel_mask_gives_the_positions_and_the_downmix_follows_it(tmp_path):
    # 6.0 without LFE: FL FR FC BL BR BC (mask 0x1|0x2|0x4|0x10|0x20|0x100)
    x = _distinct_channels(6)
    _write_with_mask(tmp_path / "six.wav", x, 0x137)
    f = read_audio(tmp_path / "six.wav")
    assert f.channel_positions == ("FL", "FR", "FC", "BL", "BR", "BC")
    assert wav_layout(tmp_path / "six.wav").channel_mask == 0x137
    y = layerlab.load_audio(tmp_path / "six.wav", channels=2, remix=True)
    a = x[0]
    # channel 4 (BL) is a surround, not an LFE: it reaches the left side at -3 dB
    want_l = a[0] + K * a[2] + K * a[3] + K * a[5]
    want_r = a[1] + K * a[2] + K * a[4] + K * a[5]
    np.testing.assert_allclose(y[0], [want_l, want_r], atol=1e-6)
    # the same samples read as 5.1 by position would have dropped channel 4 as the LFE
    as_51 = remix_channels(x, channels=2)
    assert as_51[0, 0] == pytest.approx(a[0] + K * a[2] + K * a[4], abs=1e-6)


def test_standard_masks_and_files_without_a_mask(tmp_path):
    sf.write(tmp_path / "plain.wav", _distinct_channels(6), SR, subtype="PCM_24")  # WAVE_FORMAT_PCM, no mask
    assert read_audio(tmp_path / "plain.wav").channel_positions == ("FL", "FR", "FC", "LFE", "BL", "BR")
    sf.write(tmp_path / "st.wav", _distinct_channels(2), SR, subtype="PCM_24")
    assert read_audio(tmp_path / "st.wav").channel_positions == ("FL", "FR")
    # a mask naming fewer positions than channels leaves the rest unassigned
    _write_with_mask(tmp_path / "short.wav", _distinct_channels(3), 0x3)
    assert read_audio(tmp_path / "short.wav").channel_positions == ("FL", "FR", "")


def test_71_lfe_is_left_out_and_sides_go_to_their_side():
    x = np.zeros((10, 8), np.float32)
    x[:, 3] = 1.0  # LFE
    np.testing.assert_array_equal(remix_channels(x, channels=2), 0.0)
    x[:, 6] = 0.5  # SL
    y = remix_channels(x, channels=2)
    np.testing.assert_allclose(y[0], [0.5 * K, 0.0], atol=1e-7)
    np.testing.assert_allclose(remix_channels(x, channels=1)[0], [0.25 * K], atol=1e-7)


def test_every_refusal_s_suggested_fix_works():
    """The meter refuses 7 and 8 channels and says to down-mix with layerlab.remix_channels: doing so works."""
    from layerlab.measure.loudness import integrated_loudness

    t = np.arange(SR * 3) / SR
    tone = (0.5 * np.sin(2 * np.pi * 997 * t)).astype(np.float32)
    for n in (7, 8):
        x = np.zeros((tone.size, n), np.float32)
        x[:, 0] = tone  # FL only
        with pytest.raises(ValueError) as err:
            integrated_loudness(x, sample_rate=SR)
        fix = re.search(r"\((layerlab\.\w+)\)", str(err.value)).group(1)
        fixed = eval(fix)(x, channels=2)  # noqa: S307 - the function the message names
        # a 0.5-amplitude 997 Hz sine in one channel reads 20 log10(0.5) - 3.01 = -9.03 LUFS (BS.1770)
        assert integrated_loudness(fixed, sample_rate=SR) == pytest.approx(-9.03, abs=0.05)
    with pytest.raises(layerlab.AudioError, match="positions"):
        remix_channels(np.zeros((10, 3), np.float32), channels=2, positions=("FL", "FR"))
    with pytest.raises(layerlab.AudioError, match="1 \\(mono\\) or 2"):
        remix_channels(np.zeros((10, 2), np.float32), channels=6)


def test_a_truncated_wav_is_flagged_wherever_it_is_read(tmp_path):
    x = _distinct_channels(2, seconds=1.0)
    sf.write(tmp_path / "whole.wav", x, SR, subtype="PCM_24")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_audio(tmp_path / "whole.wav").truncated is False
    raw = (tmp_path / "whole.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(raw[: len(raw) - 6 * 12000])  # 12000 frames of 6 bytes missing
    with pytest.warns(TruncatedAudioWarning, match=r"cut\.wav: is cut short.*72000 more bytes") as rec:
        f = read_audio(tmp_path / "cut.wav")
    assert len(rec) == 1 and "\n" not in str(rec[0].message)
    assert f.truncated and f.samples.shape[0] == SR - 12000
    assert wav_layout(tmp_path / "cut.wav").missing_bytes == 72000


@pytest.fixture()
def mp3(tmp_path):
    t = np.arange(SR) / SR
    x = np.repeat((0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)[:, None], 2, axis=1)
    layerlab.save_audio(tmp_path / "a.wav", x)
    subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(tmp_path / "a.wav"), "-c:a", "libmp3lame",
                    str(tmp_path / "a.mp3")], check=True)
    sf.write(tmp_path / "a.flac", x, SR)
    return tmp_path / "a.mp3"


def test_no_ffmpeg_is_one_line_for_mp3_and_wav_flac_keep_working(mp3, monkeypatch):
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", str(mp3.parent / "no" / "ffmpeg"))
    with pytest.raises(MissingToolError) as err:
        layerlab.load_audio(mp3)
    msg = str(err.value)
    assert "\n" not in msg and "ffmpeg is needed for reading a.mp3" in msg and "pip install imageio-ffmpeg" in msg
    assert isinstance(err.value, layerlab.LayerLabError)
    assert layerlab.load_audio(mp3.parent / "a.wav").shape == (SR, 2)
    assert layerlab.load_audio(mp3.parent / "a.flac").shape == (SR, 2)


def test_no_ffmpeg_on_the_command_line_is_one_line(mp3):
    """An AAC file (which libsndfile cannot decode, unlike recent MP3) needs ffmpeg: one line, no traceback."""
    m4a = mp3.with_suffix(".m4a")
    subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(mp3.parent / "a.wav"), "-c:a", "aac", str(m4a)], check=True)
    env = dict(os.environ, IMAGEIO_FFMPEG_EXE=str(mp3.parent / "no" / "ffmpeg"))
    run = [sys.executable, "-m", "layerlab.cli", "measure"]
    bad = subprocess.run(run + [str(m4a)], capture_output=True, text=True, env=env)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and "ffmpeg is needed" in bad.stderr
    good = subprocess.run(run + [str(mp3.parent / "a.wav")], capture_output=True, text=True, env=env)
    assert good.returncode == 0, good.stderr


def test_positions_survive_an_ffmpeg_decode(tmp_path):
    """A 5.1(side) track in a video container keeps SL/SR (ffmpeg writes the mask into the decoded WAV)."""
    x = _distinct_channels(6, seconds=0.5)
    _write_with_mask(tmp_path / "side.wav", x, 0x60F)  # FL FR FC LFE SL SR
    subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(tmp_path / "side.wav"), "-c:a", "flac",
                    str(tmp_path / "side.mkv")], check=True)
    f = read_audio(tmp_path / "side.mkv")
    assert f.subtype == "ffmpeg" and f.channel_positions == ("FL", "FR", "FC", "LFE", "SL", "SR")
    y = layerlab.load_audio(tmp_path / "side.mkv", channels=2, remix=True)
    a = x[0]
    np.testing.assert_allclose(y[100], [a[0] + K * a[2] + K * a[4], a[1] + K * a[2] + K * a[5]], atol=1e-5)


def test_the_fixes_suggested_by_load_audio_and_validate_audio_work(tmp_path):
    x = _distinct_channels(6, seconds=0.2)
    sf.write(tmp_path / "six_441.wav", x[:8820], 44_100, subtype="FLOAT")
    with pytest.raises(layerlab.AudioError, match="Pass resample=True") as rate_err:
        layerlab.load_audio(tmp_path / "six_441.wav")
    assert "resample=True" in str(rate_err.value)
    with pytest.raises(layerlab.AudioError, match="Pass remix=True"):
        layerlab.load_audio(tmp_path / "six_441.wav", channels=2, resample=True)
    y = layerlab.load_audio(tmp_path / "six_441.wav", channels=2, resample=True, remix=True)
    assert y.shape == (9600, 2)
    a = x[0]  # 5.1 by default (no mask): LFE out, C and surrounds at -3 dB
    # (resample_poly's Kaiser filter has a DC gain within 0.1 % of 1)
    np.testing.assert_allclose(y[4800], [a[0] + K * (a[2] + a[4]), a[1] + K * (a[2] + a[5])], rtol=1e-3)
    librosa_order = np.ascontiguousarray(x.T)
    with pytest.raises(layerlab.AudioError, match=r"Transpose it with \.T \(or use layerlab\.from_librosa\)"):
        layerlab.validate_audio(librosa_order)
    np.testing.assert_array_equal(layerlab.validate_audio(librosa_order.T), x)
    np.testing.assert_array_equal(layerlab.from_librosa(librosa_order), x)


def test_the_meter_weights_channels_by_the_files_mask(tmp_path):
    """A 4-channel file whose mask says FL FR FC LFE: a tone on the LFE channel is left out of the loudness.

    Without a mask, four channels are L R Ls Rs and the same tone counts with the surround weight 1.41.
    """
    from layerlab.measure.meter import measure_file

    t = np.arange(5 * SR) / SR
    x = np.zeros((5 * SR, 4), np.float32)
    x[:, 3] = 0.5 * np.sin(2 * np.pi * 997 * t)
    _write_with_mask(tmp_path / "lfe.wav", x, 0x1 | 0x2 | 0x4 | 0x8)
    sf.write(tmp_path / "quad.wav", x, SR, subtype="PCM_24")
    quad = measure_file(tmp_path / "quad.wav")
    assert quad.integrated_lufs == pytest.approx(-3.01 - 6.02 + 10 * np.log10(1.41), abs=0.05)
    lfe = measure_file(tmp_path / "lfe.wav")
    assert not np.isfinite(lfe.integrated_lufs)  # only the LFE carries sound: nothing to measure
    # a front channel beside it is measured alone (weight 1.0)
    x[:, 0] = x[:, 3]
    _write_with_mask(tmp_path / "lfe_and_left.wav", x, 0x1 | 0x2 | 0x4 | 0x8)
    both = measure_file(tmp_path / "lfe_and_left.wav")
    assert both.integrated_lufs == pytest.approx(-3.01 - 6.02, abs=0.05)
