#!/usr/bin/env python3
"""Checks PNG files (e.g. `llama plot` output) with a real decoder, Pillow: the chunk CRCs and
structure (`Image.verify`), then a full decode. For a loss plot (--plot) it also checks the
series colours are present and the image is not mostly empty.

With --colour R,G,B (repeatable) every file must contain that exact colour (a heatmap's
colour-map end, say).

Usage: check_png.py [--plot] [--colour R,G,B]... FILE.png...   (needs Pillow from PyPI, in a venv outside the repo)
Exit status 1 if any file fails."""
import sys
from PIL import Image

TRAIN, VAL = (31, 119, 180), (230, 110, 20)  # LossPlot's series colours


def check(path, plot, wanted=()):
    with Image.open(path) as im:
        im.verify()  # CRCs, chunk order, zlib stream framing
    with Image.open(path) as im:
        im.load()  # inflates and unfilters every row
        assert im.format == "PNG" and im.mode == "RGB", (im.format, im.mode)
        colours = {c for _, c in im.getcolors(maxcolors=1 << 20)}
        if plot:
            assert TRAIN in colours and VAL in colours, "series colours missing"
            assert len(colours) >= 5, f"only {len(colours)} colours"
        for w in wanted:
            assert w in colours, f"colour {w} missing"
        return f"{path}: ok, {im.size[0]}x{im.size[1]} {im.mode}, {len(colours)} colours"


def main():
    args = sys.argv[1:]
    plot = "--plot" in args
    wanted, files = [], []
    i = 0
    while i < len(args):
        if args[i] == "--colour" and i + 1 < len(args):
            wanted.append(tuple(int(x) for x in args[i + 1].split(",")))
            i += 2
            continue
        if args[i] != "--plot":
            files.append(args[i])
        i += 1
    if not files:
        sys.exit(__doc__)
    failed = False
    for f in files:
        try:
            print(check(f, plot, wanted))
        except Exception as e:  # report every file, then fail
            print(f"{f}: FAILED: {e}")
            failed = True
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
