"""Picture for the scene library: flat-shaded frames drawn with Pillow, encoded with ffmpeg.

Each scene has a ``draw_<scene>(frame, timeline)`` function returning an RGB
frame (640x360). Visual events are made crisp on purpose: the object reaches
its end state on the cue frame and enters the event's detection region only
then (a door edge reaching the latch, a cup landing on its saucer, a button
turning pressed), so frame differencing inside the region finds the cue
frame. Everything else moves gently (trees sway a few pixels, the cursor
glides).

Frames are piped as raw RGB to the static ffmpeg of ``imageio-ffmpeg``:
libx264, yuv420p, 24 fps, one thread and bit-exact flags, so the same frames
give the same bytes.
"""

from __future__ import annotations

import math
import os
import subprocess
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from layerlab.io.audio import ffmpeg_exe

W, H, FPS = 640, 360, 24


@lru_cache(maxsize=8)
def font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    """DejaVu Sans from matplotlib's bundled fonts (free licence, same file everywhere)."""
    import matplotlib

    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    return ImageFont.truetype(os.path.join(matplotlib.get_data_path(), "fonts", "ttf", name), size)


def ease_in(x: float, p: float = 4.0) -> float:
    return float(np.clip(x, 0, 1)) ** p


def ease_out(x: float, p: float = 3.0) -> float:
    return 1 - (1 - float(np.clip(x, 0, 1))) ** p


def ease_in_out(x: float) -> float:
    x = float(np.clip(x, 0, 1))
    return 3 * x * x - 2 * x * x * x


def land(frame: int, f_event: int, n: int, a: float, b: float) -> float:
    """Value going from ``a`` to ``b``, ease-in over the ``n`` frames before ``f_event``; ``b`` exactly at it."""
    if frame >= f_event:
        return b
    k = (frame - (f_event - n)) / n
    return a + (b - a) * ease_in(k)


# ---------------------------------------------------------------- cafe


CAFE = {
    "door": (40, 60, 140, 250),  # frame of the door (x0, y0, x1, y1); hinge on the left
    "door_latch_region": (118, 62, 140, 248),
    "table_y": 232,
    "A": {"x": 232, "shirt": (40, 130, 130), "skin": (236, 190, 150), "hair": (70, 45, 30)},
    "B": {"x": 408, "shirt": (200, 90, 60), "skin": (190, 135, 95), "hair": (30, 25, 25)},
    "cup_x": {"A": 276, "B": 364},
}


def mouth_region(x: int) -> tuple[int, int, int, int]:
    return (x - 14, 149, x + 14, 171)


def cup_region(x: int) -> tuple[int, int, int, int]:
    return (x - 14, CAFE["table_y"] - 10, x + 14, CAFE["table_y"] + 4)


def cafe_regions() -> dict:
    return {
        "door": CAFE["door_latch_region"],
        "mouth_A": mouth_region(CAFE["A"]["x"]),
        "mouth_B": mouth_region(CAFE["B"]["x"]),
        "cup_A": cup_region(CAFE["cup_x"]["A"]),
        "cup_B": cup_region(CAFE["cup_x"]["B"]),
    }


@lru_cache(maxsize=1)
def _cafe_background() -> Image.Image:
    im = Image.new("RGB", (W, H), (226, 206, 172))
    d = ImageDraw.Draw(im)
    d.rectangle((0, 250, W, H), fill=(140, 100, 72))
    for x in range(0, W, 48):  # floor boards
        d.line((x, 250, x - 30, H), fill=(125, 88, 62), width=2)
    d.rectangle((0, 244, W, 252), fill=(110, 80, 60))  # skirting
    d.rectangle((468, 40, 602, 152), fill=(120, 90, 70))  # window
    d.rectangle((474, 46, 596, 146), fill=(168, 205, 230))
    d.line((535, 46, 535, 146), fill=(120, 90, 70), width=4)
    d.line((474, 96, 596, 96), fill=(120, 90, 70), width=4)
    d.rectangle((300, 50, 360, 110), fill=(90, 110, 80))  # a framed picture
    d.rectangle((306, 56, 354, 104), fill=(170, 190, 140))
    d.ellipse((316, 70, 344, 98), fill=(230, 200, 90))
    x0, y0, x1, y1 = CAFE["door"]
    d.rectangle((x0 - 6, y0 - 6, x1 + 6, y1), fill=(95, 60, 40))  # door frame
    d.rectangle((x0, y0, x1, y1), fill=(45, 52, 70))  # dark doorway (outside)
    d.text((W - 150, 8), "THE CORNER CAFE", font=font(13, True), fill=(120, 80, 60))
    return im


def _draw_person(d: ImageDraw.ImageDraw, p: dict, mouth_open: float, blink: bool) -> None:
    x = p["x"]
    d.rounded_rectangle((x - 38, 176, x + 38, 250), radius=18, fill=p["shirt"])  # body
    d.rectangle((x - 8, 166, x + 8, 182), fill=p["skin"])  # neck
    d.ellipse((x - 30, 100, x + 30, 172), fill=p["skin"])  # head
    d.chord((x - 32, 94, x + 32, 140), 180, 360, fill=p["hair"])
    if blink:
        d.line((x - 16, 133, x - 8, 133), fill=(40, 30, 30), width=2)
        d.line((x + 8, 133, x + 16, 133), fill=(40, 30, 30), width=2)
    else:
        d.ellipse((x - 15, 129, x - 9, 137), fill=(40, 30, 30))
        d.ellipse((x + 9, 129, x + 15, 137), fill=(40, 30, 30))
    if mouth_open <= 0.0:
        d.line((x - 9, 158, x + 9, 158), fill=(130, 50, 50), width=3)
    else:
        h = 3 + 11 * mouth_open
        d.ellipse((x - 9, 158 - h / 2, x + 9, 158 + h / 2), fill=(110, 30, 40))


def _draw_cup(d: ImageDraw.ImageDraw, x: float, bottom: float, color) -> None:
    d.rectangle((x - 10, bottom - 20, x + 10, bottom), fill=color)
    d.arc((x + 6, bottom - 16, x + 18, bottom - 6), 270, 90, fill=color, width=3)
    d.ellipse((x - 9, bottom - 23, x + 9, bottom - 17), fill=(90, 55, 35))


def draw_cafe(frame: int, tl: dict) -> Image.Image:
    """One frame of the cafe dialogue scene.

    ``tl`` holds ``door`` (list of (open_start, open_end, slam) frames),
    ``cups`` ({speaker: (lift_start, lift_end, set_down)}), and ``mouth``
    ({speaker: array of per-frame openness, 0 = closed}).
    """
    im = _cafe_background().copy()
    d = ImageDraw.Draw(im)
    # door: visible panel width from the hinge, 18 px (open) .. full (shut)
    x0, y0, x1, y1 = CAFE["door"]
    full = x1 - x0
    width = 18.0
    for k, (open_a, open_b, slam) in enumerate(tl["door"]):
        if frame >= slam:
            width = full
        elif frame >= slam - 8:
            width = land(frame, slam, 8, 18.0, full)
        elif frame >= open_a:
            width = full + (18.0 - full) * ease_in_out((frame - open_a) / max(1, open_b - open_a))
        elif k == 0:
            width = 18.0
        if frame < slam:
            break
    d.rectangle((x0, y0, x0 + width, y1), fill=(150, 92, 52))
    if width > 40:
        d.ellipse((x0 + width - 18, 150, x0 + width - 10, 158), fill=(220, 190, 90))  # knob
        d.rectangle((x0 + 10, y0 + 14, x0 + width - 10, y0 + 80), outline=(125, 75, 42), width=2)
    # table and saucers
    ty = CAFE["table_y"]
    for who in ("A", "B"):
        blink = (frame + (0 if who == "A" else 37)) % 97 in (0, 1)
        _draw_person(d, CAFE[who], float(tl["mouth"][who][frame]), blink)
    d.rectangle((180, ty, 460, ty + 10), fill=(95, 62, 40))
    d.rectangle((196, ty + 10, 206, 330), fill=(80, 52, 34))
    d.rectangle((434, ty + 10, 444, 330), fill=(80, 52, 34))
    for who, color in (("A", (245, 245, 240)), ("B", (90, 150, 200))):
        cx = CAFE["cup_x"][who]
        d.ellipse((cx - 17, ty - 4, cx + 17, ty + 3), fill=(235, 235, 230))
        lift_a, lift_b, down = tl["cups"][who]
        raised = 34.0
        if frame >= down:
            h = 0.0
        elif frame >= down - 8:
            h = raised - land(frame, down, 8, 0.0, raised)
        elif frame >= lift_a:
            h = raised * ease_in_out((frame - lift_a) / max(1, lift_b - lift_a))
        else:
            h = 0.0
        bottom = ty - 1 - h
        _draw_cup(d, cx, bottom, color)
        # arm holding the cup while it is off the saucer, and for a few frames after
        if lift_a <= frame < down + 6:
            sx = CAFE[who]["x"] + (30 if who == "A" else -30)
            d.line((sx, 196, cx + (-12 if who == "A" else 12), bottom - 10), fill=CAFE[who]["skin"], width=7)
    return im


# ---------------------------------------------------------------- product demo


DEMO = {
    "window": (40, 24, 600, 296),
    "buttons": {"import": (56, 78, 148, 106), "enhance": (56, 118, 148, 146), "export": (56, 158, 148, 186)},
    "panel": (322, 64, 588, 286),
    "toast": (190, 206, 450, 282),
    "toast_button": (360, 246, 438, 274),
    "badge": (540, 70, 580, 106),
    "caption": (24, 306, 616, 352),
}


def demo_regions() -> dict:
    b = DEMO["buttons"]
    return {
        "click_import": b["import"],
        "click_enhance": b["enhance"],
        "click_export": b["export"],
        "click_done": DEMO["toast_button"],
        "panel": DEMO["panel"],
        "toast": DEMO["toast"],
        "badge": DEMO["badge"],
        "caption": DEMO["caption"],
    }


@lru_cache(maxsize=1)
def _demo_background() -> Image.Image:
    im = Image.new("RGB", (W, H), (28, 32, 44))
    d = ImageDraw.Draw(im)
    x0, y0, x1, y1 = DEMO["window"]
    d.rectangle((x0, y0, x1, y1), fill=(236, 239, 244))
    d.rectangle((x0, y0, x1, y0 + 24), fill=(60, 68, 90))
    for i, c in enumerate([(235, 95, 85), (240, 190, 70), (110, 200, 100)]):
        d.ellipse((x0 + 8 + 16 * i, y0 + 7, x0 + 18 + 16 * i, y0 + 17), fill=c)
    d.text((x0 + 70, y0 + 5), "Layer Lab Studio", font=font(12, True), fill=(230, 232, 240))
    d.rectangle((x0, y0 + 24, 160, y1), fill=(214, 219, 228))
    d.rectangle((170, 64, 312, 286), fill=(248, 249, 252), outline=(205, 210, 220))
    d.text((180, 72), "Project", font=font(12, True), fill=(60, 68, 90))
    for i in range(6):
        d.rectangle((180, 96 + 30 * i, 300, 116 + 30 * i), fill=(226, 230, 238))
    return im


def _button(d, box, label, pressed: bool, enabled: bool = True):
    fill = (255, 140, 40) if pressed else ((70, 110, 200) if enabled else (150, 160, 180))
    d.rounded_rectangle(box, radius=6, fill=fill)
    d.text(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), label, font=font(12, True), fill=(255, 255, 255), anchor="mm")


def _cursor(d, x, y):
    pts = [(x, y), (x, y + 18), (x + 5, y + 14), (x + 9, y + 22), (x + 12, y + 20), (x + 8, y + 13), (x + 14, y + 13)]
    d.polygon(pts, fill=(255, 255, 255), outline=(0, 0, 0))


def _panel(d, x_off: float, tracks_done: bool) -> None:
    x0, y0, x1, y1 = DEMO["panel"]
    x0, x1 = x0 + x_off, x1 + x_off
    d.rectangle((x0, y0, x1, y1), fill=(44, 50, 66))
    d.text((x0 + 10, y0 + 8), "Layers", font=font(13, True), fill=(240, 240, 245))
    colors = [(90, 170, 250), (250, 170, 70), (120, 200, 120), (200, 120, 220)]
    names = ["dialogue", "sfx", "ambience", "music"]
    for i, (c, nm) in enumerate(zip(colors, names)):
        ty = y0 + 40 + 44 * i
        d.text((x0 + 10, ty + 10), nm, font=font(11), fill=(210, 214, 224))
        base = ty + 18
        for k in range(40):
            amp = 4 + 10 * abs(math.sin(k * 0.7 + i)) * (0.6 if tracks_done else 1.0)
            xx = x0 + 80 + k * 4.3
            d.line((xx, base - amp, xx, base + amp), fill=c, width=2)


def draw_demo(frame: int, tl: dict) -> Image.Image:
    """One frame of the product demo.

    ``tl`` holds ``clicks`` ({name: frame}), ``panel_in``, ``progress``
    ((start, end)), ``badge``, ``toast_in``, ``toast_out`` (frames),
    ``cursor`` (list of (frame, x, y) keyframes) and ``captions`` (list of
    (start, end, text)).
    """
    im = _demo_background().copy()
    d = ImageDraw.Draw(im)
    clicks = tl["clicks"]
    for key, label in (("import", "Import"), ("enhance", "Enhance"), ("export", "Export")):
        f = clicks[key]
        _button(d, DEMO["buttons"][key], label, pressed=f <= frame < f + 4)
    # the layers panel slides in from the right (ease-out: biggest step on the cue frame)
    if frame >= tl["panel_in"]:
        k = (frame - tl["panel_in"] + 1) / 5
        x_off = (W - DEMO["panel"][0]) * (1 - ease_out(k, 2.0))
        _panel(d, x_off, tracks_done=frame >= tl["badge"])
        # progress bar of the enhance step
        p0, p1 = tl["progress"]
        if frame >= p0:
            prog = float(np.clip((frame - p0) / (p1 - p0), 0, 1))
            bx0, by = DEMO["panel"][0] + 12 + x_off, DEMO["panel"][3] - 18
            d.rectangle((bx0, by, bx0 + 200, by + 8), fill=(80, 88, 110))
            d.rectangle((bx0, by, bx0 + 200 * prog, by + 8), fill=(110, 210, 120))
    if frame >= tl["badge"]:
        d.ellipse(DEMO["badge"], fill=(60, 190, 100))
        bx0, by0, bx1, by1 = DEMO["badge"]
        d.line((bx0 + 9, by0 + 19, bx0 + 17, by0 + 27, bx0 + 31, by0 + 10), fill=(255, 255, 255), width=4)
    # export toast slides up from below, leaves downwards
    # (pops up on its cue frame 30 px low and settles in two frames; dismissed at once)
    t_in, t_out = tl["toast_in"], tl["toast_out"]
    if t_in <= frame < t_out:
        x0, y0, x1, y1 = DEMO["toast"]
        y_off = {0: 30.0, 1: 10.0}.get(frame - t_in, 0.0)
        d.rounded_rectangle((x0, y0 + y_off, x1, y1 + y_off), radius=8, fill=(255, 255, 255), outline=(120, 130, 150), width=2)
        d.text((x0 + 14, y0 + 12 + y_off), "Exported mix.wav  -14 LUFS", font=font(12, True), fill=(40, 46, 60))
        d.text((x0 + 14, y0 + 44 + y_off), "stems: 4", font=font(11), fill=(90, 96, 110))
        bb = DEMO["toast_button"]
        f = clicks["done"]
        _button(d, (bb[0], bb[1] + y_off, bb[2], bb[3] + y_off), "Done", pressed=f <= frame < f + 4)
    # cursor glides between keyframes (ease-in-out)
    keys = tl["cursor"]
    x, y = keys[0][1], keys[0][2]
    for (fa, xa, ya), (fb, xb, yb) in zip(keys, keys[1:]):
        if fa <= frame < fb:
            u = ease_in_out((frame - fa) / (fb - fa))
            x, y = xa + (xb - xa) * u, ya + (yb - ya) * u
            break
        if frame >= fb:
            x, y = xb, yb
    _cursor(d, x, y)
    # captions of the voice-over
    cx0, cy0, cx1, cy1 = DEMO["caption"]
    for a, b, text in tl["captions"]:
        if a <= frame < b:
            d.rectangle((cx0, cy0, cx1, cy1), fill=(0, 0, 0))
            d.text(((cx0 + cx1) / 2, (cy0 + cy1) / 2), text, font=font(15), fill=(255, 255, 255), anchor="mm")
    return im


# ---------------------------------------------------------------- forest


FOREST = {
    "bird1": (470, 150),  # perch position (centre of the body)
    "bird2": (128, 178),
    "branch_ground": (306, 290, 396, 312),
    "horizon": 200,
    "ground": 292,
}


def forest_regions() -> dict:
    b1, b2 = FOREST["bird1"], FOREST["bird2"]
    return {
        "bird1": (b1[0] - 12, b1[1] - 7, b1[0] + 12, b1[1] + 7),
        "bird2": (b2[0] - 12, b2[1] - 7, b2[0] + 12, b2[1] + 7),
        "branch": FOREST["branch_ground"],
        "sky": (0, 0, W, FOREST["horizon"]),
    }


@lru_cache(maxsize=1)
def _forest_sky() -> np.ndarray:
    y = np.linspace(0, 1, H)[:, None, None]
    top, bottom = np.array([62, 80, 128]), np.array([228, 170, 128])
    img = top * (1 - y) + bottom * y
    return np.broadcast_to(img, (H, W, 3)).astype(np.float32)


_TREES = [(60, 292, 150, 0.0), (190, 292, 120, 1.3), (300, 292, 170, 2.1), (560, 292, 160, 0.7), (620, 292, 110, 2.8)]


def _tree(d, x, base, height, sway):
    d.rectangle((x - 6, base - height * 0.3, x + 6, base), fill=(70, 48, 36))
    for k in range(3):
        lvl = base - height * (0.25 + 0.25 * k)
        top = lvl - height * 0.4
        half = height * (0.32 - 0.07 * k)
        s = sway * (0.4 + 0.3 * k)
        d.polygon([(x - half + s * 0.3, lvl), (x + half + s * 0.3, lvl), (x + s, top)], fill=(34 + 6 * k, 72 + 8 * k, 52))


def _bird(d, x, y, wings: float, facing: int = 1):
    d.ellipse((x - 9, y - 6, x + 9, y + 6), fill=(40, 36, 44))
    d.ellipse((x + 5 * facing - 5, y - 11, x + 5 * facing + 5, y - 1), fill=(40, 36, 44))
    d.polygon([(x + 10 * facing, y - 7), (x + 16 * facing, y - 5), (x + 10 * facing, y - 4)], fill=(230, 170, 60))
    if wings > 0:
        span = 20 * wings
        d.polygon([(x - 4, y - 2), (x - 4 - span * 0.6, y - span), (x + 4, y - 3)], fill=(55, 50, 60))
        d.polygon([(x + 2, y - 2), (x + 2 + span * 0.5, y - span * 0.9), (x + 8, y - 2)], fill=(55, 50, 60))


def draw_forest(frame: int, tl: dict) -> Image.Image:
    """One frame of the forest B-roll.

    ``tl`` holds ``bird1``/``bird2`` (take-off frames), ``flash`` (lightning
    frame) and ``branch`` (landing frame).
    """
    t = frame / FPS
    flash_k = frame - tl["flash"]
    flash = {0: 1.0, 1: 0.35, 2: 0.7, 3: 0.2, 4: 0.08}.get(flash_k, 0.0)
    sky = _forest_sky()
    if flash > 0:
        sky = sky * (1 - flash) + np.array([245, 242, 255], dtype=np.float32) * flash
    im = Image.fromarray(np.ascontiguousarray(sky).astype(np.uint8))
    d = ImageDraw.Draw(im)
    hz = FOREST["horizon"]
    if 0 <= flash_k <= 2:
        pts = [(420, 0), (432, 60), (418, 66), (440, 140), (428, 146), (446, hz)]
        d.line(pts, fill=(255, 255, 255), width=4 if flash_k != 1 else 2)
    hill = [(0, hz + 30), (120, hz - 10), (260, hz + 20), (400, hz - 20), (520, hz + 10), (640, hz - 5), (640, H), (0, H)]
    d.polygon(hill, fill=(60, 78, 92) if flash == 0 else (110, 120, 150))
    d.rectangle((0, FOREST["ground"], W, H), fill=(52, 70, 40))
    # distant flock crossing slowly
    if 60 <= frame < 300:
        for k in range(4):
            bx = -40 + (frame - 60) * 2.4 + 22 * k
            by = 60 + 10 * math.sin(0.9 * k) + 4 * math.sin(t * 2 + k)
            d.line((bx - 5, by - 3, bx, by, bx + 5, by - 3), fill=(40, 40, 55), width=2)
    for x, base, height, phase in _TREES:
        _tree(d, x, base, height, sway=4.0 * math.sin(2 * math.pi * 0.25 * t + phase))
    # bare tree on the right with bird1's perch, and the left perch of bird2
    d.line((470, 292, 480, 170, 470, 110), fill=(75, 55, 45), width=8)
    d.line((478, 160, 430, 158), fill=(75, 55, 45), width=4)
    d.line((132, 292, 130, 186, 100, 186), fill=(75, 55, 45), width=6)
    for key, facing in (("bird1", 1), ("bird2", -1)):
        px, py = FOREST[key]
        f0 = tl[key]
        if frame < f0:
            _bird(d, px, py, 0.0, facing)
        else:
            k = frame - f0
            # take off: on the cue frame the bird leaps clear of its perch with wings spread,
            # then flaps while flying away
            wings = 1.0 if k == 0 else 0.55 + 0.45 * math.cos(k * 1.7)
            fx = px + facing * (6 + 5 * k + 0.6 * k * k)
            fy = py - (18 + 6 * k + 0.25 * k * k)
            if fy > -30 and -30 < fx < W + 30:
                _bird(d, fx, fy, wings, facing)
    # a dead branch breaks off, falls, lands on the ground on the cue frame
    fb = tl["branch"]
    gx0, gy0, gx1, gy1 = FOREST["branch_ground"]
    if frame < fb - 10:
        d.line((296, 152, 360, 136), fill=(165, 130, 95), width=7)
    elif frame < fb:
        u = (frame - (fb - 10)) / 10
        yy = 150 + (gy0 - 18 - 150) * ease_in(u, 2.0)
        ang = 0.4 * u
        d.line((318, yy, 318 + 64 * math.cos(ang), yy - 16 * math.cos(ang) + 16 * u), fill=(165, 130, 95), width=7)
    else:
        d.line((gx0 + 10, gy0 + 10, gx1 - 10, gy0 + 14), fill=(165, 130, 95), width=7)
        k = frame - fb
        if k < 6:  # dust and leaves kicked up
            r = 10 + 5 * k
            c = (170, 160, 125)
            d.ellipse(((gx0 + gx1) / 2 - r * 2, gy0 + 10 - r * 0.6, (gx0 + gx1) / 2 + r * 2, gy0 + 14 + r * 0.2), outline=c, width=3)
    return im


# ---------------------------------------------------------------- encoding


def encode(frames, out_path: Path, *, n_frames: int, crf: int = 24) -> Path:
    """Encode an iterable of RGB frames (PIL images or HxWx3 uint8) to H.264 MP4, deterministically."""
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        ffmpeg_exe(), "-nostdin", "-y", "-v", "error",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{W}x{H}", "-r", str(FPS), "-i", "-",
        "-an", "-c:v", "libx264", "-preset", "medium", "-crf", str(crf), "-pix_fmt", "yuv420p",
        "-threads", "1", "-x264-params", "threads=1:lookahead-threads=1",
        "-g", "48", "-fflags", "+bitexact", "-flags:v", "+bitexact", "-map_metadata", "-1",
        "-movflags", "+faststart", str(out_path),
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    count = 0
    for im in frames:
        arr = np.asarray(im, dtype=np.uint8)
        proc.stdin.write(arr.tobytes())
        count += 1
    proc.stdin.close()
    err = proc.stderr.read().decode(errors="replace")
    if proc.wait() != 0 or count != n_frames:
        raise RuntimeError(f"ffmpeg failed encoding {out_path} ({count} frames): {err[-500:]}")
    return out_path


def mux(video_path: Path, wav_path: Path, out_path: Path) -> Path:
    """Copy the video stream and add the WAV as AAC 48 kHz stereo (``native.mp4``)."""
    cmd = [
        ffmpeg_exe(), "-nostdin", "-y", "-v", "error", "-i", str(video_path), "-i", str(wav_path),
        "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac", "-b:a", "96k", "-ar", "48000",
        "-threads", "1", "-fflags", "+bitexact", "-flags:a", "+bitexact", "-map_metadata", "-1",
        "-movflags", "+faststart", "-shortest", str(out_path),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg failed muxing {out_path}: {proc.stderr[-500:]}")
    return Path(out_path)


def decode_gray(video_path: Path, *, width: int = W, height: int = H) -> np.ndarray:
    """Decode every frame as 8-bit gray, shape (n_frames, height, width)."""
    cmd = [ffmpeg_exe(), "-nostdin", "-v", "error", "-i", str(video_path), "-f", "rawvideo", "-pix_fmt", "gray", "-"]
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg could not decode {video_path}: {proc.stderr.decode(errors='replace')[-300:]}")
    data = np.frombuffer(proc.stdout, dtype=np.uint8)
    return data.reshape(-1, height, width)


def decode_rgb(video_path: Path, *, width: int = W, height: int = H) -> np.ndarray:
    """Decode every frame as RGB, shape (n_frames, height, width, 3) uint8."""
    cmd = [ffmpeg_exe(), "-nostdin", "-v", "error", "-i", str(video_path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg could not decode {video_path}: {proc.stderr.decode(errors='replace')[-300:]}")
    return np.frombuffer(proc.stdout, dtype=np.uint8).reshape(-1, height, width, 3)
