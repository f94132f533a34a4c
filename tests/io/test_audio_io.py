"""Audio I/O: one convention in, clear errors for bad input."""

import subprocess

import numpy as np
import pytest
import soundfile as sf

import layerlab
from layerlab import AudioError
from layerlab.io.audio import ffmpeg_exe, read_audio

SR = 48_000


def _tone(seconds=1.0, sr=SR, freq=440.0, channels=2, amp=0.5):
    t = np.arange(int(seconds * sr)) / sr
    x = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.repeat(x[:, None], channels, axis=1)


def test_wav_round_trip_keeps_shape_rate_and_samples(tmp_path):
    x = _tone(channels=2)
    path = layerlab.save_audio(tmp_path / "a.wav", x, subtype="FLOAT")
    y = layerlab.load_audio(path)
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("subtype,tol", [("PCM_16", 1 / 32767), ("PCM_24", 1 / 8388607)])
def test_pcm_quantisation_is_within_one_step(tmp_path, subtype, tol):
    x = _tone()
    y = layerlab.load_audio(layerlab.save_audio(tmp_path / "a.wav", x, subtype=subtype))
    assert np.max(np.abs(x - y)) <= tol


def test_flac_loads(tmp_path):
    x = _tone(channels=1)
    sf.write(tmp_path / "a.flac", x, SR, subtype="PCM_24")
    y = layerlab.load_audio(tmp_path / "a.flac")
    assert y.shape == (SR, 1)
    assert np.max(np.abs(x - y)) < 1e-6


def test_other_rate_is_an_error_unless_resampling_is_asked_for(tmp_path):
    x = _tone(sr=44_100, freq=1000.0)
    sf.write(tmp_path / "a.wav", x, 44_100)
    with pytest.raises(AudioError, match="44100 Hz.*resample=True"):
        layerlab.load_audio(tmp_path / "a.wav")
    y = layerlab.load_audio(tmp_path / "a.wav", resample=True)
    assert y.shape[0] == SR
    # the tone keeps its pitch: dominant FFT bin at 1 kHz
    spec = np.abs(np.fft.rfft(y[:, 0]))
    assert abs(np.argmax(spec) * SR / y.shape[0] - 1000.0) < 2.0


def test_channel_change_is_explicit(tmp_path):
    sf.write(tmp_path / "m.wav", _tone(channels=1), SR)
    with pytest.raises(AudioError, match="remix=True"):
        layerlab.load_audio(tmp_path / "m.wav", channels=2)
    y = layerlab.load_audio(tmp_path / "m.wav", channels=2, remix=True)
    assert y.shape[1] == 2
    np.testing.assert_array_equal(y[:, 0], y[:, 1])


def test_51_downmix_leaves_lfe_out():
    x = np.zeros((100, 6), np.float32)
    x[:, 3] = 1.0  # LFE only
    assert np.all(layerlab.remix_channels(x, channels=2) == 0)
    x[:, 2] = 1.0  # centre
    np.testing.assert_allclose(layerlab.remix_channels(x, channels=2), 0.70710677, rtol=1e-6)


def test_mp3_and_mp4_audio_tracks_decode(tmp_path):
    x = _tone(seconds=2.0, freq=1000.0)
    layerlab.save_audio(tmp_path / "a.wav", x)
    ff = ffmpeg_exe()
    subprocess.run([ff, "-v", "error", "-i", str(tmp_path / "a.wav"), "-c:a", "libmp3lame", "-b:a", "192k",
                    str(tmp_path / "a.mp3")], check=True)
    subprocess.run([ff, "-v", "error", "-f", "lavfi", "-i", "color=c=black:s=320x240:r=24:d=2", "-i",
                    str(tmp_path / "a.wav"), "-c:v", "libx264", "-c:a", "aac", "-shortest",
                    str(tmp_path / "a.mp4")], check=True)
    for name in ("a.mp3", "a.mp4"):
        y = layerlab.load_audio(tmp_path / name)
        assert y.shape[1] == 2 and abs(y.shape[0] - 2 * SR) < 0.1 * SR
        rms = np.sqrt(np.mean(y[SR // 2 : SR] ** 2))
        assert abs(rms - 0.5 / np.sqrt(2)) < 0.02, name


def test_video_without_audio_says_so(tmp_path):
    subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "color=c=black:s=320x240:r=24:d=1",
                    "-c:v", "libx264", str(tmp_path / "silent.mp4")], check=True)
    with pytest.raises(AudioError, match="no audio track"):
        layerlab.load_audio(tmp_path / "silent.mp4")


@pytest.mark.parametrize(
    "make,pattern",
    [
        (lambda p: p.write_bytes(b""), "empty"),
        (lambda p: p.write_bytes(b"this is not audio at all" * 50), "not a readable audio file"),
        (lambda p: p.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt "), "not a readable audio file"),
        (lambda p: sf.write(p, np.zeros((0, 2), np.float32), SR), "no samples"),
        (lambda p: sf.write(p, np.array([[0.0, np.nan]] * 10, np.float32), SR, subtype="FLOAT"), "NaN or infinite"),
        (lambda p: sf.write(p, np.array([[0.0, np.inf]] * 10, np.float32), SR, subtype="FLOAT"), "NaN or infinite"),
    ],
    ids=["empty", "not-audio", "truncated-header", "zero-length", "nan", "inf"],
)
def test_bad_files_raise_clear_errors_naming_the_file(tmp_path, make, pattern):
    path = tmp_path / "bad.wav"
    make(path)
    with pytest.raises(AudioError, match=pattern) as err:
        layerlab.load_audio(path)
    assert "bad.wav" in str(err.value)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(AudioError, match="not found"):
        read_audio(tmp_path / "nope.wav")
    with pytest.raises(AudioError, match="folder"):
        read_audio(tmp_path)


def test_validate_rejects_transposed_and_odd_shapes():
    with pytest.raises(AudioError, match=r"\(channels, samples\)"):
        layerlab.validate_audio(np.zeros((2, 48000), np.float32))
    with pytest.raises(AudioError, match="expected shape"):
        layerlab.validate_audio(np.zeros((2, 2, 2)))
    with pytest.raises(AudioError, match="numbers"):
        layerlab.validate_audio(np.array(["a", "b"]))
    y = layerlab.validate_audio(np.array([0, 16384, -32768], dtype=np.int16))
    assert y.dtype == np.float32 and y.shape == (3, 1)
    np.testing.assert_allclose(y[:, 0], [0.0, 0.5, -1.0])


def test_librosa_and_pydub_edges_round_trip():
    x = _tone(seconds=0.5, channels=2, amp=0.25)
    y = layerlab.to_librosa(x)
    assert y.shape == (2, x.shape[0])
    np.testing.assert_array_equal(layerlab.from_librosa(y), x)
    mono = layerlab.to_librosa(x[:, :1])
    assert mono.shape == (x.shape[0],)
    seg = layerlab.to_pydub(x)
    assert seg.frame_rate == SR and seg.channels == 2 and len(seg) == 500
    back = layerlab.from_pydub(seg)
    assert back.shape == x.shape and np.max(np.abs(back - x)) < 1e-4


def test_a_wav_name_on_other_content_is_refused_before_decoding(tmp_path):
    sf.write(tmp_path / "mix.wav", np.zeros((SR, 2), np.float32), SR, format="FLAC", subtype="PCM_16")
    with pytest.raises(AudioError) as err:
        read_audio(tmp_path / "mix.wav")
    msg = str(err.value)
    assert "\n" not in msg and "mix.wav" in msg and "FLAC" in msg and "export it again as a WAV" in msg
    sf.write(tmp_path / "mix.flac", np.zeros((SR, 2), np.float32), SR, format="FLAC", subtype="PCM_16")
    assert read_audio(tmp_path / "mix.flac").samples.shape == (SR, 2)  # the same content under its own name reads
