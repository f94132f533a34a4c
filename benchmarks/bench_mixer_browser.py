"""Browser half of ``bench_mixer.py --browser``: fader release to repaint, timed inside headless Chromium.

JupyterLab runs from the project's ``.venv`` over a temporary copy of ``lessons/`` (``tests/jupyterlab_server.py``: token auth, a free
127.0.0.1 port, its own config, runtime and settings folders), as ``tests/course/test_browser.py``
starts it; Playwright drives Debian's ``/usr/bin/chromium`` (no ``playwright install``). In the page,
an init script records ``performance.now()`` at every mouse release and at every ``drawImage`` on a
canvas inside the mixer (ipympl paints each new figure image that way), and a MutationObserver
records each change of the mixer's readout. Each drag of a control is scored as the time from its
release to the first readout change and the first figure repaint after it.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from jupyterlab_server import LabDidNotStart, start_lab  # noqa: E402 - layerlab-free, shared with the browser test

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
CONTROLS = {"music": ".layerlab-gain-music", "dialogue": ".layerlab-gain-dialogue",
            "ambience": ".layerlab-gain-ambience", "sfx": ".layerlab-gain-sfx",
            "duck depth": ".layerlab-duck-depth", "duck threshold": ".layerlab-duck-threshold",
            "duck attack": ".layerlab-duck-attack", "duck release": ".layerlab-duck-release"}

INIT_SCRIPT = """
window.__ll = {up: [], draws: [], readout: []};
document.addEventListener('mouseup', () => window.__ll.up.push(performance.now()), true);
const __drawImage = CanvasRenderingContext2D.prototype.drawImage;
CanvasRenderingContext2D.prototype.drawImage = function (...args) {
  const c = this.canvas;
  if (c && c.closest && c.closest('.layerlab-mixer')) window.__ll.draws.push(performance.now());
  return __drawImage.apply(this, args);
};
"""

OBSERVE_READOUT = """
() => {
  const el = document.querySelector('.layerlab-mixer .layerlab-readout');
  new MutationObserver(() => window.__ll.readout.push(performance.now()))
    .observe(el, {subtree: true, childList: true, characterData: true});
}
"""


def _start_lab(tmp: Path):
    """JupyterLab over a copy of ``lessons/`` (the server start is shared with ``tests/course/test_browser.py``)."""
    root = tmp / "lessons"
    shutil.copytree(ROOT / "lessons", root,
                    ignore=shutil.ignore_patterns("_layerlab_audio", "session.json", "deliverable", "*.py"))
    try:
        return start_lab(root, tmp)
    except LabDidNotStart as exc:
        raise SystemExit(str(exc)) from None


def _wait(predicate, timeout_s: float, what: str, interval_s: float = 0.2):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise SystemExit(f"timed out after {timeout_s:.0f} s waiting for {what}")


def pct(values, q):
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def browser_side(rounds: int = 5) -> int:
    from playwright.sync_api import sync_playwright

    chromium = Path("/usr/bin/chromium") if Path("/usr/bin/chromium").exists() else shutil.which("chromium")
    if not chromium:
        print("Chromium is not installed: run `bash scripts/system-deps.sh` (Debian package 'chromium').")
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="bench_mixer_browser_"))
    lab = _start_lab(tmp)
    base, token = lab.base, lab.token
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    results: dict = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_FLAGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1800})
                page.add_init_script(INIT_SCRIPT)
                page.goto(f"{base}/lab/tree/07_four_layers.ipynb?token={token}", wait_until="domcontentloaded")
                page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=120_000)
                page.wait_for_function(
                    "() => /\\|\\s*Idle/.test(document.querySelector('.jp-StatusBar-Widget')?.innerText || '')",
                    timeout=120_000)
                t_run = time.perf_counter()
                page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
                page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
                mixer = page.locator(".layerlab-mixer").first
                mixer.wait_for(state="visible", timeout=300_000)

                def all_done():
                    prompts = [t.strip() for t in page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()]
                    return bool(prompts) and all(t[1:-2].isdigit() for t in prompts)

                _wait(all_done, 600, "every cell to finish", interval_s=0.5)
                print(f"lesson 07 Run All in the browser: {time.perf_counter() - t_run:.1f} s (aim 15 s)")
                readout = mixer.locator(".widget-html.layerlab-readout").first
                _wait(lambda: "LUFS" in readout.inner_text(), 60, "the loudness readout")
                page.evaluate(OBSERVE_READOUT)
                time.sleep(1.0)
                for r in range(rounds):
                    for name, selector in CONTROLS.items():
                        slider = mixer.locator(selector).first
                        slider.scroll_into_view_if_needed()
                        handle = slider.locator(".noUi-handle").first
                        box = handle.bounding_box()
                        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
                        dx = -25 if r % 2 == 0 else 25
                        n_up = page.evaluate("() => window.__ll.up.length")
                        page.mouse.move(x, y)
                        page.mouse.down()
                        page.mouse.move(x + dx, y, steps=6)
                        page.mouse.up()
                        _wait(lambda: page.evaluate("() => window.__ll.up.length") > n_up, 10, "the release")
                        t_up = page.evaluate(f"() => window.__ll.up[{n_up}]")

                        def first_after(key):
                            return page.evaluate(f"() => window.__ll.{key}.find(t => t > {t_up}) ?? null")

                        t_fig = _wait(lambda: first_after("draws"), 30, f"the figure after {name}")
                        # the readout's text changes only if a shown number does (a small threshold or
                        # attack move may leave every number as it was): then there is nothing to time
                        deadline = time.time() + 3.0
                        t_read = first_after("readout")
                        while t_read is None and time.time() < deadline:
                            time.sleep(0.1)
                            t_read = first_after("readout")
                        results.setdefault(name, []).append((None if t_read is None else t_read - t_up, t_fig - t_up))
                        time.sleep(0.6)  # let the deferred save and player refresh pass before the next drag
            finally:
                browser.close()
    finally:
        lab.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"in the page, fader release -> readout / figure repainted ({rounds} drags each; aim median 60 ms, p95 120 ms)")
    print(f"  {'control':16s} {'readout median':>14s} {'p95':>8s}   {'figure median':>13s} {'p95':>8s}")
    worst = 0.0
    for name, pairs in results.items():
        rd = [a for a, _ in pairs if a is not None]
        fg = [b for _, b in pairs]
        both50 = max(pct(fg, 50), pct(rd, 50) if rd else 0.0)
        both95 = max(pct(fg, 95), pct(rd, 95) if rd else 0.0)
        ok = "ok" if both50 <= 60 and both95 <= 120 else "OVER"
        worst = max(worst, both50)
        note = f"  (readout text unchanged after {len(pairs) - len(rd)} of {len(pairs)} drags)" if len(rd) < len(pairs) else ""
        print(f"  {name:16s} {pct(rd, 50):11.0f} ms {pct(rd, 95):6.0f} ms   {pct(fg, 50):10.0f} ms {pct(fg, 95):6.0f} ms  {ok}{note}")
    print(f"slowest median: {worst:.0f} ms (aim 60)")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0
