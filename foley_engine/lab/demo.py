"""``make demo``: make a sample video with known events, then generate Foley for it.

Runs the same path a user runs (``foley generate ... --mux``) and prints
where the results are and how the detected events line up with the video.
"""
from __future__ import annotations

import os
import sys
from fractions import Fraction

from ..cli import main as foley_main
from .samples import make_sample_video

PROMPT = "footsteps on wooden floor, metal impacts, door slams, room tone"


def run(folder: str = "demo") -> int:
    os.makedirs(folder, exist_ok=True)
    video = os.path.join(folder, "sample.mp4")
    print(f"making a 30-second 29.97 fps sample video with impacts, a flash, a cut and a walker: {video}")
    sample = make_sample_video(
        video, duration=30, fps=Fraction(30000, 1001), width=1280, height=720,
        impacts_every=Fraction(3), impact_offset=Fraction(2), flashes=(Fraction(25),), cuts=(Fraction(15),),
        walking=True, start_timecode="01:00:00;00",
    )
    print(f"  impacts at (s): {', '.join(f'{float(t):.3f}' for t in sample.impact_times)}")
    wav = os.path.join(folder, "sample_foley.wav")
    mp4 = os.path.join(folder, "sample_with_foley.mp4")
    args = ["generate", video, "--prompt", PROMPT, "-o", wav, "--mux", mp4, "--seed", "1"]
    print("running: foley " + " ".join(f'"{a}"' if " " in a else a for a in args))
    code = foley_main(args)
    if code == 0:
        print(f"\nlisten: {mp4}\nimport: {wav} (starts at the video's first frame, timecode 01:00:00;00)")
    return code


if __name__ == "__main__":
    sys.exit(run(*sys.argv[1:2]))
