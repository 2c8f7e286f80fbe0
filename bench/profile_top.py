"""Top functions of a py-spy raw (collapsed stacks) profile, by inclusive and by own samples.

    python bench/profile_top.py PROFILE.txt [--top 25] [--filter realestate_assets] [--under FRAME]

`bench_scale.py --profile DIR` writes one such file per stage (`--profile-waits`: waiting threads
sampled too, so the samples are wall time). `--under FRAME` keeps only the stacks that pass through
a frame containing that text: one thread (`bench_scale.py` roots the main thread's stacks), one
asset (`enrichment (realestate_assets/assets/enrichment.py`), one call.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path


def summarize(path: Path, keep: str | None = None,
              under: str | None = None) -> tuple[int, Counter[str], Counter[str]]:
    total, inclusive, own = 0, Counter(), Counter()
    for line in path.read_text(errors="replace").splitlines():  # frames may hold any bytes
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():  # a frame's bytes may hold a newline: not a stack line
            continue
        n = int(count)
        frames = stack.split(";")
        if under is not None and not any(under in frame for frame in frames):
            continue
        total += n
        for frame in set(frames):
            if keep is None or keep in frame:
                inclusive[frame] += n
        own[frames[-1]] += n
    return total, inclusive, own


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("profile", type=Path)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--filter", help="inclusive list: only frames containing this text")
    ap.add_argument("--under", help="only the stacks through a frame containing this text")
    ap.add_argument("--rate", type=int, default=50, help="py-spy's samples a second (bench_scale.py's: 50)")
    args = ap.parse_args()
    total, inclusive, own = summarize(args.profile, args.filter, args.under)
    print(f"{args.profile.name}: {total} samples ({total / args.rate:.1f} s at {args.rate} Hz)")
    print("inclusive:")
    for frame, n in inclusive.most_common(args.top):
        print(f"  {n / total:6.1%}  {frame}")
    print("own:")
    for frame, n in own.most_common(args.top):
        print(f"  {n / total:6.1%}  {frame}")


if __name__ == "__main__":
    main()
