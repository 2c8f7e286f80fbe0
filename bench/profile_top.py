"""Top functions of a py-spy raw (collapsed stacks) profile, by inclusive and by own samples.

    python bench/profile_top.py PROFILE.txt [--top 25] [--filter realestate_assets]

`bench_scale.py --profile DIR` writes one such file per stage.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path


def summarize(path: Path, keep: str | None = None) -> tuple[int, Counter[str], Counter[str]]:
    total, inclusive, own = 0, Counter(), Counter()
    for line in path.read_text(errors="replace").splitlines():  # frames may hold any bytes
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():  # a frame's bytes may hold a newline: not a stack line
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
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
    args = ap.parse_args()
    total, inclusive, own = summarize(args.profile, args.filter)
    print(f"{args.profile.name}: {total} samples")
    print("inclusive:")
    for frame, n in inclusive.most_common(args.top):
        print(f"  {n / total:6.1%}  {frame}")
    print("own:")
    for frame, n in own.most_common(args.top):
        print(f"  {n / total:6.1%}  {frame}")


if __name__ == "__main__":
    main()
