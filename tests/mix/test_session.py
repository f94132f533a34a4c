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
    with pytest.raises(ValueError, match="unknown layer 'voice'"):
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
    assert bad.returncode == 1
    assert "session file not found" in bad.stderr and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_help_lists_subcommands():
    proc = subprocess.run([sys.executable, "-m", "layerlab.cli", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "render" in proc.stdout
