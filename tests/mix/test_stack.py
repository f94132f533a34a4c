"""The four-layer stack renders sample-accurately."""

import numpy as np
import pytest

from layerlab import ParameterError
from layerlab.mix.stack import LAYERS, Clip, LayerStack

SR = 48_000


def impulse(n=100, at=0, value=1.0, channels=1):
    x = np.zeros((n, channels), np.float32)
    x[at] = value
    return x


def test_layers_are_in_priority_order():
    stack = LayerStack(duration_s=1.0)
    assert [layer.name for layer in stack] == list(LAYERS) == ["dialogue", "sfx", "ambience", "music"]


@pytest.mark.parametrize("start_s", [0.0, 0.25, 0.123456, 0.5 + 7 / SR])
def test_clip_lands_on_the_sample(start_s):
    stack = LayerStack(duration_s=1.0)
    stack.add("sfx", impulse(), start_s=start_s)
    r = stack.render()
    hits = np.flatnonzero(r.stems["sfx"][:, 0])
    assert hits.tolist() == [int(round(start_s * SR))]
    assert r.mix.shape == (SR, 2) and set(r.stems) == set(LAYERS)


def test_negative_start_cuts_the_head_and_the_end_is_cut_at_the_duration():
    stack = LayerStack(duration_s=0.01)  # 480 samples
    ramp = np.arange(1000, dtype=np.float32)[:, None] / 1000
    stack.add("music", ramp, start_s=-100 / SR)
    out = stack.render().stems["music"][:, 0]
    assert out.shape == (480,)
    np.testing.assert_allclose(out, ramp[100:580, 0])


def test_mono_clips_are_upmixed_to_both_channels():
    stack = LayerStack(duration_s=0.01)
    stack.add("dialogue", np.full((100, 1), 0.5, np.float32))
    r = stack.render()
    np.testing.assert_array_equal(r.stems["dialogue"][:100, 0], r.stems["dialogue"][:100, 1])


def test_clip_and_layer_gains_add_in_db():
    stack = LayerStack(duration_s=0.01)
    stack.add("ambience", np.full((480, 2), 0.5, np.float32), gain_db=-6.0)
    stack["ambience"].gain_db = -14.0
    out = stack.render().stems["ambience"]
    np.testing.assert_allclose(out, 0.5 * 10 ** (-20 / 20), rtol=1e-5)


def test_fades_are_raised_cosine_of_the_right_length():
    stack = LayerStack(duration_s=1.0)
    stack.add("music", np.ones((SR, 1), np.float32), fade_in_ms=100.0, fade_out_ms=200.0)
    out = stack.render().stems["music"][:, 0]
    k_in, k_out = int(0.1 * SR), int(0.2 * SR)
    assert out[0] < 1e-3 and abs(out[k_in // 2] - 0.5) < 1e-3 and out[k_in] == 1.0
    assert np.all(np.diff(out[:k_in]) > 0)
    assert out[-1] < 1e-3 and abs(out[SR - k_out // 2 - 1] - 0.5) < 1e-3
    assert np.all(out[k_in : SR - k_out] == 1.0)


def test_trim_selects_part_of_the_source():
    src = np.arange(SR, dtype=np.float32)[:, None] / SR
    stack = LayerStack(duration_s=1.0)
    clip = stack.add("music", src, trim_start_s=0.25, trim_end_s=0.5, start_s=0.1)
    assert clip.duration_s() == pytest.approx(0.25)
    out = stack.render().stems["music"][:, 0]
    nz = np.flatnonzero(out)
    assert nz[0] == int(0.1 * SR) and nz[-1] == int(0.1 * SR) + int(0.25 * SR) - 1
    assert out[nz[0]] == pytest.approx(0.25, abs=1e-6)


def test_mute_and_solo_and_stems_sum_to_mix():
    stack = LayerStack(duration_s=0.01)
    for i, name in enumerate(LAYERS):
        stack.add(name, np.full((480, 2), 0.1 * (i + 1), np.float32))
    r = stack.render()
    np.testing.assert_allclose(r.mix, sum(r.stems.values()), atol=1e-6)
    np.testing.assert_allclose(r.mix[:, 0], 1.0, rtol=1e-6)
    stack["music"].mute = True
    r = stack.render()
    assert not r.stems["music"].any() and r.mix[0, 0] == pytest.approx(0.6)
    stack["sfx"].solo = True
    r = stack.render()
    assert r.mix[0, 0] == pytest.approx(0.2) and not r.stems["dialogue"].any()
    assert stack.audible("sfx") and not stack.audible("dialogue")


def test_layer_behaves_like_a_list():
    stack = LayerStack(duration_s=1.0)
    a = Clip(audio=impulse(), start_s=0.1, name="a")
    b = Clip(audio=impulse(), start_s=0.2, name="b")
    stack["sfx"].extend([a, b])
    assert len(stack["sfx"]) == 2 and stack["sfx"][1].name == "b"
    del stack["sfx"][0]
    assert [c.name for c in stack["sfx"]] == ["b"]
    with pytest.raises(ParameterError, match="Clip objects"):
        stack["sfx"].append(np.zeros(10))


def test_changing_a_clip_invalidates_the_layer_cache():
    stack = LayerStack(duration_s=1.0)
    clip = stack.add("sfx", impulse(), start_s=0.1)
    first = np.flatnonzero(stack.render().stems["sfx"][:, 0])
    clip.start_s = 0.3
    second = np.flatnonzero(stack.render().stems["sfx"][:, 0])
    assert first.tolist() == [4800] and second.tolist() == [14400]


def test_clip_from_a_file_is_loaded_and_resampled(tmp_path):
    import soundfile as sf

    sf.write(tmp_path / "x.wav", np.ones((441, 1), np.float32) * 0.5, 44_100)
    stack = LayerStack(duration_s=0.1)
    clip = stack.add("sfx", tmp_path / "x.wav", start_s=0.0)
    assert clip.name == "x" and clip.source.shape[1] == 2
    assert abs(clip.source.shape[0] - 480) <= 1


@pytest.mark.parametrize(
    "kwargs,pattern",
    [
        (dict(duration_s=0), "duration_s"),
        (dict(duration_s=float("nan")), "duration_s"),
        (dict(duration_s=1.0, sample_rate=1000), "sample_rate"),
    ],
)
def test_bad_stack_arguments(kwargs, pattern):
    with pytest.raises(ParameterError, match=pattern):
        LayerStack(**kwargs)


def test_bad_clip_arguments():
    stack = LayerStack(duration_s=1.0)
    with pytest.raises(ParameterError, match="unknown layer 'voice'"):
        stack.add("voice", impulse())
    with pytest.raises(ParameterError, match="finite"):
        stack.add("sfx", impulse(), start_s=float("nan"))
    with pytest.raises(ParameterError, match="trim_end_s"):
        stack.add("sfx", impulse(), trim_start_s=0.5, trim_end_s=0.1)
    with pytest.raises(ValueError, match="NaN"):
        stack.add("sfx", np.full((10, 1), np.nan, np.float32))
    with pytest.raises(ParameterError, match="audio .* or a path"):
        Clip()
