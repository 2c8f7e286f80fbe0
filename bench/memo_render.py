"""Memo rendering CPU per document, the packets asset's path (`docs/memo.render_many`, in process).

    PYTHONPATH=. .venv/bin/python bench/memo_render.py [--n 20] [--template investor_memo] [--out DIR]

The memos are the sample county's real properties (tests/outreach/helpers_outreach.py, no
database). One warm-up document is rendered first (imports, the font configuration); then N
documents in one `render_many` call with one worker, which renders them in this process, so
`time.process_time()` is the CPU they cost. Prints CPU s per document, the PDFs' sizes and the
load average; `--out` writes the PDFs (for pdftotext / pdftoppm comparisons between trees).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from realestate_assets.docs.memo import RenderJob, font_subsetter, page_count, render_many
from tests.outreach.helpers_outreach import real_contexts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--template", default="investor_memo")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    contexts = real_contexts(args.n)
    # Pinned so that two trees' PDFs can be compared byte for byte / text for text.
    jobs = [RenderJob(f"{i:03d}", args.template, {**c, "generated_on": "2026-12-01"}) for i, c in enumerate(contexts)]
    render_many(jobs[:1], workers=1)  # warm-up: imports, font configuration, stylesheet cache
    load = os.getloadavg()[0]
    cpu, wall = time.process_time(), time.perf_counter()
    pdfs = render_many(jobs, workers=1)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    sizes = [len(p) for p in pdfs.values()]
    per_doc = 1000 / len(pdfs)
    print(f"{args.template}: {len(pdfs)} docs, subsetter {font_subsetter().split(' ')[0]}, load {load:.2f}→"
          f"{os.getloadavg()[0]:.2f}: CPU {cpu * per_doc:.0f} ms/doc, wall {wall * per_doc:.0f} ms/doc, "
          f"size mean {sum(sizes) / len(sizes) / 1024:.1f} KiB (min {min(sizes) / 1024:.1f}, "
          f"max {max(sizes) / 1024:.1f}), total {sum(sizes):,} bytes, "
          f"pages {sum(page_count(p) for p in pdfs.values())}")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        for key, pdf in pdfs.items():
            (args.out / f"{key}.pdf").write_bytes(pdf)


if __name__ == "__main__":
    main()
