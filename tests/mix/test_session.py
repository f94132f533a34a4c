"""Deliverable export and session.json round trip."""

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from layerlab import SessionError
from layerlab.mix.ducking import Ducking
from layerlab.mix.session import export_deliverable, load_session, save_session
from layerlab.mix.stack import LAYERS, LayerStack

SR = 48_000


def make_stack(tmp_path):
    rng = np.random.default_rng(7)
    sf.write(tmp_path / "line.wav", (0.2 * rng.standard_normal((SR, 1))).astype(np.float32), SR, subtype="FLOAT")
    stack = LayerStack(duration_s=3.0, ducking=Ducking(depth_db=10, attack_ms=30, release_ms=200))
    stack.add("dialogue", tmp_path / "line.wav", start_s=1.0, gain_db=-2.0, fade_in_ms=5, fade_out_ms=20, name="l1")
    stack.add("sfx", (0.1 * rng.standard_normal((2400, 2))).astype(np.float32), start_s=0.5, name="door")
    stack.add("ambience", (0.01 * rng.standard_normal((3 * SR, 2))).astype(np.float32), trim_start_s=0.1, name="room")
    stack.add("music", (0.1 * rng.standard_normal((3 * SR, 2))).astype(np.float32), trim_end_s=2.5, name="bed")
    stack["music"].gain_db = -4.0
    stack["ambience"].solo = False
    stack["sfx"].mute = False
    return stack


def test_export_writes_the_deliverable_folder(tmp_path):
    stack = make_stack(tmp_path)
    out = export_deliverable(stack, tmp_path / "deliverable")
    mix, rate = sf.read(out / "mix.wav", dtype="float32", always_2d=True)
    assert rate == SR and mix.shape == (3 * SR, 2) and sf.info(out / "mix.wav").subtype == "PCM_24"
    total = np.zeros_like(mix)
    for name in LAYERS:
        stem, r = sf.read(out / "stems" / f"{name}.wav", dtype="float32", always_2d=True)
        assert r == SR and stem.shape == mix.shape
        total += stem
    assert np.max(np.abs(total - mix)) < 2e-7 * 8  # 24-bit quantisation of the mix
    data = json.loads((out / "session.json").read_text())
    assert data["layers"]["dialogue"]["clips"][0]["name"] == "l1"
    assert data["ducking"]["depth_db"] == 10


def test_session_round_trip_is_exact(tmp_path):
    stack = make_stack(tmp_path)
    before = stack.render()
    path = save_session(stack, tmp_path / "s" / "session.json")
    again = load_session(path)
    after = again.render()
    for name in LAYERS:
        np.testing.assert_array_equal(before.stems[name], after.stems[name])
    assert again["music"].gain_db == -4.0 and again.ducking == stack.ducking
    assert [c.name for c in again["ambience"]] == ["room"]
    # a second save of the loaded stack describes the same session
    save_session(again, tmp_path / "t" / "session.json")
    a = json.loads(path.read_text())
    b = json.loads((tmp_path / "t" / "session.json").read_text())
    assert a["layers"]["music"]["gain_db"] == b["layers"]["music"]["gain_db"]
    assert a["ducking"] == b["ducking"]


def test_load_session_errors(tmp_path):
    with pytest.raises(SessionError, match="not found"):
        load_session(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(SessionError, match="not valid JSON"):
        load_session(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text('{"hello": 1}')
    with pytest.raises(SessionError, match="not a Layer Lab session"):
        load_session(tmp_path / "other.json")
    stack = make_stack(tmp_path)
    path = save_session(stack, tmp_path / "x" / "session.json")
    (tmp_path / "line.wav").unlink()
    with pytest.raises(SessionError, match="l1.*not found"):
        load_session(path)
    path.write_text(json.dumps({"duration_s": 1, "layers": {"voice": {}}}))
    with pytest.raises(ValueError, match='unknown layer "voice"'):
        load_session(path)


def test_render_command_line(tmp_path):
    stack = make_stack(tmp_path)
    session = save_session(stack, tmp_path / "s" / "session.json")
    proc = subprocess.run([sys.executable, "-m", "layerlab.cli", "render", str(session), str(tmp_path / "out")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "mix.wav").exists() and (tmp_path / "out" / "stems" / "music.wav").exists()
    bad = subprocess.run([sys.executable, "-m", "layerlab.cli", "render", str(tmp_path / "missing.json"), str(tmp_path / "o2")],
                         capture_output=True, text=True)
    assert bad.returncode == 2  # EXIT_BAD_SESSION
    assert "session file not found" in bad.stderr and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_help_lists_subcommands():
    proc = subprocess.run([sys.executable, "-m", "layerlab.cli", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "render" in proc.stdout


# ----------------------------------------------------------------------------- issue #15: sessions and export
import warnings  # noqa: E402

from layerlab.mix.master import Master  # noqa: E402
from layerlab.mix.session import ClippedExportWarning, session_problems, stack_from_dict, stack_to_dict  # noqa: E402


def _valid_session(tmp_path):
    stack = make_stack(tmp_path)
    stack.master = Master()
    path = save_session(stack, tmp_path / "s" / "session.json")
    return path, json.loads(path.read_text())


def _edit(data, dotted, value):
    *head, last = dotted.split(".")
    node = data
    for key in head:
        node = node[int(key)] if isinstance(node, list) else node[key]
    node[last] = value


@pytest.mark.parametrize(
    "key,value,expected",
    [
        ("layers", [], r"layers = \[\]: must be an object keyed by layer name"),
        ("ducking.threshold_db", None, r"ducking\.threshold_db = null: must be a number from -120 to 0 dBFS"),
        ("layers.sfx.mute", "false", r'layers\.sfx\.mute = "false": must be true or false'),
        ("layers.sfx.solo", 1, r"layers\.sfx\.solo = 1: must be true or false"),
        ("master.max_gain_db", -6, r"master\.max_gain_db = -6: must be a number from 0 to 60 dB"),
        ("sample_rate", 44100.5, r"sample_rate = 44100\.5: must be a whole number of Hz"),
        ("layers.music.gian_db", -3, r"layers\.music\.gian_db: unknown key; the keys allowed here are gain_db, mute"),
        ("layers.dialogue.clips.0.fade_in_ms", -5, r"layers\.dialogue\.clips\[0\]\.fade_in_ms = -5: must be a number from 0"),
        ("target", "cinema", r"target = \"cinema\": must be one of 'streaming'"),
        ("duration_s", "20", r'duration_s = "20": must be a number above 0'),
    ],
    ids=["layers-list", "null-threshold", "mute-string", "solo-int", "negative-max-gain", "fractional-rate",
         "unknown-key", "negative-fade", "unknown-target", "string-duration"],
)
def test_hand_edited_session_is_refused_with_one_line_naming_key_value_and_allowed(tmp_path, key, value, expected):
    path, data = _valid_session(tmp_path)
    _edit(data, key, value)
    path.write_text(json.dumps(data))
    with pytest.raises(SessionError, match=expected) as err:
        load_session(path)
    lines = str(err.value).splitlines()
    assert len(lines) == 1 and lines[0].startswith(str(path)), lines


def test_nan_in_a_session_is_named_not_ignored(tmp_path):
    path, data = _valid_session(tmp_path)
    text = json.dumps(data).replace('"threshold_db": -40.0', '"threshold_db": NaN')
    assert "NaN" in text
    path.write_text(text)
    with pytest.raises(SessionError, match=r"ducking\.threshold_db = NaN: not a number JSON allows"):
        load_session(path)
    # and in Python a NaN threshold is refused instead of switching the ducking off
    with pytest.raises(ValueError, match="threshold_db"):
        Ducking(threshold_db=float("nan"))


def test_nan_inside_a_shown_value_or_a_text_key_is_named_in_order(tmp_path):
    # a NaN inside a value that is shown (here the whole "layers") was a TypeError traceback; a NaN where a
    # string belongs is still "not a number JSON allows"; and problems are listed by the key holding them
    from layerlab.mix.session import _NonFinite

    data = json.loads('{"duration_s": 1, "layers": [NaN, 2], "master": {"ceiling_dbtp": -Infinity, "x": 1}}',
                      parse_constant=_NonFinite)
    assert session_problems(data) == [
        "layers = [NaN, 2]: must be an object keyed by layer name.",
        "master.x: unknown key; the keys allowed here are target_lufs, ceiling_dbtp, attack_ms, release_ms, "
        "max_gain_db (check the spelling).",
        "master.ceiling_dbtp = -Infinity: not a number JSON allows; must be a number from -20 to 0 dBTP.",
    ]
    data = json.loads('{"duration_s": 1, "layers": {"sfx": {"clips": [{"source": "a.wav", "name": NaN}, 3]}}}',
                      parse_constant=_NonFinite)
    assert session_problems(data) == [
        "layers.sfx.clips[0].name = NaN: not a number JSON allows; must be a string.",
        'layers.sfx.clips[1] = 3: must be a clip object, e.g. {"source": {"file": "door.wav"}, "start_s": 2.5}.',
    ]


def test_every_problem_is_listed_one_line_each(tmp_path):
    path, data = _valid_session(tmp_path)
    data["layers"]["sfx"]["mute"] = "false"
    data["master"]["max_gain_db"] = -1
    data["colour"] = "red"
    problems = session_problems(data)
    assert len(problems) == 3 and all("\n" not in p for p in problems)
    assert any(p.startswith("colour: unknown key") for p in problems)
    assert session_problems(json.loads(json.dumps(stack_to_dict(make_stack(tmp_path), base_dir=tmp_path,
                                                                  clip_dir=tmp_path / "c")))) == []


def test_render_refuses_a_bad_session_with_exit_2_and_writes_nothing(tmp_path):
    path, data = _valid_session(tmp_path)
    data["layers"]["sfx"]["mute"] = "false"
    data["ducking"]["threshold_db"] = None
    path.write_text(json.dumps(data))
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "layerlab.cli", "render", str(path), str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("layerlab render: error: ") for line in lines)
    assert not out.exists()


def _tone(freq_hz, seconds, sr):
    t = np.arange(int(round(seconds * sr))) / sr
    return (0.25 * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def _peak_frequency(x, sr):
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return np.argmax(spec) * sr / x.size


@pytest.mark.parametrize("stack_rate", [44_100, 96_000])
def test_a_48k_clip_on_another_rate_timeline_keeps_time_and_pitch(tmp_path, stack_rate):
    sf.write(tmp_path / "tone.wav", _tone(1000.0, 0.5, SR), SR, subtype="FLOAT")
    for stack in (LayerStack(duration_s=2.0, sample_rate=stack_rate), None):
        if stack is None:  # the same through a hand-written session.json
            session = {"duration_s": 2.0, "sample_rate": stack_rate,
                       "layers": {"sfx": {"clips": [{"source": "tone.wav", "start_s": 1.0}]}}}
            (tmp_path / "session.json").write_text(json.dumps(session))
            stack = load_session(tmp_path / "session.json")
        else:
            stack.add("sfx", tmp_path / "tone.wav", start_s=1.0)
        stem = stack.render().stems["sfx"][:, 0]
        nz = np.flatnonzero(np.abs(stem) > 1e-3)
        assert abs(nz[0] - stack_rate) <= 2  # lands at 1.000 s on this timeline
        assert abs((nz[-1] - nz[0] + 1) / stack_rate - 0.5) < 1e-3  # lasts 0.5 s (not 0.5 * 48000/44100)
        assert _peak_frequency(stem[nz[0]: nz[-1]], stack_rate) == pytest.approx(1000.0, abs=2.5)
    # an in-memory 48 kHz array says its rate and is resampled too
    stack = LayerStack(duration_s=1.0, sample_rate=stack_rate)
    stack.add("music", _tone(500.0, 1.0, SR))
    music = stack.render().stems["music"][:, 0]
    assert music.shape[0] == stack_rate
    assert _peak_frequency(music, stack_rate) == pytest.approx(500.0, abs=1.5)


def test_in_memory_clips_of_another_rate_survive_a_session_round_trip(tmp_path):
    from layerlab.mix.stack import Clip

    stack = LayerStack(duration_s=1.0)
    stack["music"].append(Clip(audio=_tone(440.0, 0.5, 22_050), sample_rate=22_050, name="low"))
    before = stack.render().stems["music"]
    again = load_session(save_session(stack, tmp_path / "s" / "session.json"))
    np.testing.assert_allclose(again.render().stems["music"], before, atol=1e-6)
    assert sf.info(str(tmp_path / "s" / "clips" / "music_00_low.wav")).samplerate == 22_050


def test_export_never_clips_silently(tmp_path):
    stack = LayerStack(duration_s=1.0)
    stack.add("music", _tone(1000.0, 1.0, SR) * 40)  # peaks at +20 dBFS, no master
    with pytest.warns(ClippedExportWarning, match=r"peaks at \+20\.0 dBFS.*Master\(\)") as rec:
        out = export_deliverable(stack, tmp_path / "loud")
    assert len(rec) == 1 and "\n" not in str(rec[0].message)
    assert sf.read(out / "stems" / "music.wav")[0].max() == pytest.approx(10.0, rel=1e-4)  # the float stem keeps it
    stack.master = Master()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        export_deliverable(stack, tmp_path / "mastered")
    path = save_session(LayerStack(duration_s=1.0), tmp_path / "q" / "session.json")
    data = json.loads(path.read_text())
    data["layers"] = {"music": {"clips": [{"source": str(tmp_path / "loud" / "stems" / "music.wav")}]}}
    path.write_text(json.dumps(data))
    proc = subprocess.run([sys.executable, "-m", "layerlab.cli", "render", str(path), str(tmp_path / "cli")],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "layerlab render: warning:" in proc.stderr and "over full scale" in proc.stderr


def test_delivery_target_is_saved_and_restored(tmp_path):
    stack = make_stack(tmp_path)
    stack.delivery_target = "podcast"
    path = save_session(stack, tmp_path / "s" / "session.json")
    assert json.loads(path.read_text())["target"] == "podcast"
    assert load_session(path).delivery_target == "podcast"
    assert stack_from_dict({"duration_s": 1.0, "layers": {}}).delivery_target is None


def test_session_is_written_atomically_and_a_failed_write_keeps_the_old_file(tmp_path):
    stack = make_stack(tmp_path)
    path = save_session(stack, tmp_path / "s" / "session.json")
    before = path.read_bytes()
    stack["music"].gain_db = float("nan")  # cannot be written as JSON
    with pytest.raises(ValueError):
        save_session(stack, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["clips", "session.json"]  # no temp file left


@pytest.mark.parametrize("kwargs", [dict(max_gain_db=-6.0), dict(max_gain_db=float("nan")),
                                    dict(attack_ms=float("nan")), dict(ceiling_dbtp=float("nan"))])
def test_master_settings_that_would_silence_or_disable_it_are_refused_in_python_too(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        Master(**kwargs)
    # the known answer it protects: a -30 LUFS mix mastered to -14 LUFS is raised by 16 dB, not lowered
    t = np.arange(SR * 3) / SR
    x = np.repeat((0.02 * np.sin(2 * np.pi * 997 * t)).astype(np.float32)[:, None], 2, axis=1)
    r = Master(target_lufs=-14.0).process(x)
    assert r.output_lufs == pytest.approx(-14.0, abs=0.1) and r.static_gain_db > 0


def test_a_moved_clip_is_named_and_putting_it_back_works(tmp_path):
    stack = make_stack(tmp_path)
    path = save_session(stack, tmp_path / "s" / "session.json")
    (tmp_path / "line.wav").rename(tmp_path / "elsewhere.wav")
    with pytest.raises(SessionError, match=r"layers\.dialogue\.clips\[0\] \('l1'\): file .*line\.wav not found; "
                                           r"put the file back") as err:
        load_session(path)
    assert len(str(err.value).splitlines()) == 1
    (tmp_path / "elsewhere.wav").rename(tmp_path / "line.wav")  # the suggested fix
    assert [c.name for c in load_session(path)["dialogue"]] == ["l1"]


def test_unchanged_in_memory_clips_are_not_rewritten_at_each_save(tmp_path):
    stack = make_stack(tmp_path)
    path = save_session(stack, tmp_path / "s" / "session.json")
    clip_file = tmp_path / "s" / "clips" / "sfx_00_door.wav"
    first = clip_file.stat().st_mtime_ns
    stack["music"].gain_db = -9.0
    save_session(stack, path)
    assert clip_file.stat().st_mtime_ns == first
    stack["sfx"][0] = type(stack["sfx"][0])(audio=np.full((480, 2), 0.25, np.float32), name="door")
    save_session(stack, path)
    assert sf.read(clip_file, dtype="float32")[0].max() == 0.25
    assert sorted(p.name for p in clip_file.parent.iterdir() if p.name.startswith("."))  == []
