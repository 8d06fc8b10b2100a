#!/usr/bin/env python3
"""Checks a `llama inspect --html` page in a real browser, headless Chromium (Debian's
`chromium` package):

1. it loads from the file (no server) without a console error, and the page's own check finds
   every embedded image decoded (`data-images="ok N"` in the DOM after load, N = the <img>
   count of the file);
2. a screenshot of the page shows the heatmaps: enough pixels of the softmax colour map's
   yellow end and of the score map's red end (checked with Pillow).

Usage: check_inspect_html.py PAGE.html [SCREENSHOT.png]
Run it with the Python of the test venv (scripts/test.sh makes it: $SWIFTLLAMA_VENV, default
~/.cache/swiftllama/venv), which has Pillow. Exit status 1 on any failure."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

from PIL import Image

YELLOW = (253, 231, 37)   # viridis' end: a softmax weight of 1
RED = (180, 4, 38)        # coolwarm's end: the largest score
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
         "--disable-extensions", "--allow-file-access-from-files"]


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    sys.exit("chromium not found: install Debian's chromium package (scripts/test.sh does)")


def near(c, target, tolerance=12):
    return all(abs(a - b) <= tolerance for a, b in zip(c, target))


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    page = os.path.abspath(sys.argv[1])
    url = "file://" + page
    html = open(page, encoding="utf-8").read()
    images = len(re.findall(r"<img ", html))
    assert images > 0, "the page embeds no images"
    assert not re.search(r"""(src|href)=["'](https?:)?//""", html), "the page loads something from the network"
    browser = chromium()
    with tempfile.TemporaryDirectory() as profile:
        dom = subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
                              "--virtual-time-budget=5000", "--dump-dom", url],
                             capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, f"chromium --dump-dom exited {dom.returncode}: {dom.stderr[-2000:]}"
    console = [l for l in dom.stderr.splitlines() if "CONSOLE" in l]
    assert not console, "console messages: " + " | ".join(console)
    m = re.search(r'data-images="([^"]*)"', dom.stdout)
    assert m, "no data-images attribute in the DOM (did the page load?)"
    assert m.group(1) == f"ok {images}", f"image check in the browser: {m.group(1)!r}, expected 'ok {images}'"

    shot = sys.argv[2] if len(sys.argv) == 3 else os.path.join(tempfile.mkdtemp(), "inspect.png")
    with tempfile.TemporaryDirectory() as profile:
        r = subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", "--window-size=1200,6000",
                            f"--screenshot={shot}", url], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and os.path.exists(shot), f"chromium --screenshot failed: {r.stderr[-2000:]}"
    with Image.open(shot) as im:
        im = im.convert("RGB")
        colours = im.getcolors(maxcolors=1 << 24)
    yellow = sum(n for n, c in colours if near(c, YELLOW))
    red = sum(n for n, c in colours if near(c, RED))
    assert yellow >= 100, f"the screenshot shows no softmax heatmap ({yellow} yellow pixels)"
    assert red >= 100, f"the screenshot shows no score heatmap ({red} red pixels)"
    print(f"{page}: ok: loaded in Chromium, {images} images decoded, screenshot {shot} shows the heatmaps "
          f"({yellow} yellow, {red} red pixels)")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"{sys.argv[1]}: FAILED: {e}")
        sys.exit(1)
