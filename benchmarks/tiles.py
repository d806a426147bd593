"""Tile sheets of numbered frames, for annotating true event frames by eye.

    python benchmarks/tiles.py VIDEO --first 0 --count 60 --columns 10 -o sheet.png

Each tile is one decoded frame in presentation order, labelled with its index
(0 = the first frame) and its PTS in seconds; open the PNG and write the frames
you see events on into benchmarks/annotations/<clip>.json (see ground_truth.py).
Needs Pillow (a dependency of matplotlib, in the test extra).
"""
from __future__ import annotations

import argparse
import sys
from fractions import Fraction

import av
import numpy as np
from PIL import Image, ImageDraw


def sheet(path: str, first: int, count: int, columns: int, width: int, step: int = 1) -> Image.Image:
    tiles = []
    with av.open(path) as container:
        stream = container.streams.video[0]
        height = int(round(width * stream.height / stream.width / 2)) * 2
        start = None
        for i, frame in enumerate(container.decode(stream)):
            t = Fraction(frame.pts) * stream.time_base
            start = t if start is None else start
            if i < first or (i - first) % step:
                continue
            if len(tiles) >= count:
                break
            tiles.append((i, float(t - start), frame.to_ndarray(format="rgb24", width=width, height=height)))
    rows = (len(tiles) + columns - 1) // columns
    label = 12
    img = Image.new("RGB", (columns * (width + 2), rows * (height + label + 2)), "black")
    draw = ImageDraw.Draw(img)
    for k, (i, t, rgb) in enumerate(tiles):
        x, y = (k % columns) * (width + 2), (k // columns) * (height + label + 2)
        img.paste(Image.fromarray(np.ascontiguousarray(rgb)), (x, y + label))
        draw.text((x + 2, y), f"{i}  {t:.2f}s", fill="yellow")
    return img


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("video")
    p.add_argument("--first", type=int, default=0)
    p.add_argument("--count", type=int, default=60)
    p.add_argument("--step", type=int, default=1, help="every n-th frame (overview sheets)")
    p.add_argument("--columns", type=int, default=10)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("-o", "--output", required=True)
    a = p.parse_args(argv)
    sheet(a.video, a.first, a.count, a.columns, a.width, a.step).save(a.output)
    print(a.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
