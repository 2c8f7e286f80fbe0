"""Outreach benchmark: documents per second per template, emails per second through SendGrid.

    .venv/bin/python bench/bench_outreach.py [--docs 40] [--emails 5000] [--templates investor_memo ...]

Documents are rendered from real King County properties (tests/outreach/helpers_outreach.py),
sequentially in one process and in a process pool (the packets asset's `render_many`, 2
workers). Emails go through the SendGrid backend (official SDK) to a local HTTP server that
answers 202: batched (one request carries up to 1,000 personalizations of the same content)
and unbatched (every email its own content, hence its own request).

The machine is shared: besides documents per second (wall clock), the CPU milliseconds one
document costs in one process are printed, which the load of other processes barely moves, and
the rate N idle cores would give at that cost (N × 1000 / CPU ms: rendering is CPU-bound and the
workers share nothing). Compare wall-clock rates only between runs made in the same window.
Targets (issue 13): executive summary ≥ 15 PDFs/s and investor memo ≥ 5 PDFs/s with 2 workers.
Fonts must be subset by HarfBuzz (printed at the start): WeasyPrint's fontTools fallback costs
150-450 ms a document.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from realestate_assets.docs.context import portfolio_context
from realestate_assets.docs.memo import RenderJob, font_subsetter, page_count, render_many, render_pdf, render_pool
from realestate_assets.outreach.messages import Content, OutgoingEmail
from resources.mailer import SendGridMailer
from tests.outreach.helpers_outreach import SENDER, ScriptedServer, county, real_contexts

TEMPLATES = ["executive_summary", "investor_memo", "detailed_analysis", "portfolio_overview", "email_notification"]


def email_context(ctx: dict) -> dict:
    from realestate_assets.docs.context import sender_context

    p, v, s = ctx["property"], ctx["valuation"], ctx["score"]
    return {"sender": sender_context(SENDER), "county": {"name": "King County", "state": "WA"},
            "intro": "A property scored high.", "first_name": "Avery", "unsubscribe_url": "https://x.example/u",
            "campaign_label": "new opportunities", "attached": True,
            "items": [{"parcel_id": p["parcel_id"], "address": p["address"], "bird_dog_score": s["bird_dog_score"],
                       "estimated_value": v["estimated_value"], "value_gap_pct": v["value_gap_pct"],
                       "comps_count": v["comps_count"], "use_type": p["use_type"], "living_sqft": p["living_sqft"],
                       "county_name": "King County, WA", "reasons": s["reasons"], "link": None,
                       "link_expires": None}]}


def bench_documents(n: int, workers: int, templates: list[str]) -> None:
    contexts = real_contexts(8)
    inputs = {
        "portfolio_overview": [portfolio_context(contexts, county(), SENDER)],
        "email_notification": [email_context(c) for c in contexts],
    }
    print(f"documents: {n} per template, real King County properties, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f} at start, fonts subset by {font_subsetter()}")
    print(f"{'template':<22}{'pages':>6}{'CPU ms/doc':>12}{'1 process/s':>14}{f'{workers} workers/s':>14}"
          f"{'incl. pool start/s':>20}{f'{workers} idle cores/s':>18}")
    with render_pool(workers) as pool:
        render_many([RenderJob(str(i), "executive_summary", contexts[0]) for i in range(workers * 2)], pool=pool)
        for template in templates:
            ctxs = inputs.get(template, contexts)
            first = render_pdf(template, ctxs[0])  # warm imports and fonts
            start, cpu = time.perf_counter(), time.process_time()
            for i in range(n):
                render_pdf(template, ctxs[i % len(ctxs)])
            sequential = n / (time.perf_counter() - start)
            cpu_ms = (time.process_time() - cpu) / n * 1000
            jobs = [RenderJob(str(i), template, ctxs[i % len(ctxs)]) for i in range(n)]
            start = time.perf_counter()
            render_many(jobs, pool=pool)  # a warm pool: steady-state throughput
            pooled = n / (time.perf_counter() - start)
            start = time.perf_counter()
            render_many(jobs, workers=workers, pool_threshold=1)  # what one packets run pays
            cold = n / (time.perf_counter() - start)
            print(f"{template:<22}{page_count(first):>6}{cpu_ms:>12.0f}{sequential:>14.1f}{pooled:>14.1f}"
                  f"{cold:>20.1f}{workers * 1000 / cpu_ms:>18.1f}  (load {os.getloadavg()[0]:.1f})", flush=True)


def bench_emails(n: int) -> None:
    shared = Content(group_key="one", html="<p>Hello [%first_name%]</p><a href='[%unsubscribe_url%]'>u</a>" * 20,
                     text="Hello [%first_name%] [%unsubscribe_url%]", categories=("bench",))

    def batch(per_email_content: bool) -> list[OutgoingEmail]:
        return [OutgoingEmail(email_id=i, tenant_id="default", campaign="bench", to_email=f"r{i}@example.com",
                              to_name=f"Reader {i}", from_email="deals@example.com", from_name="Deals",
                              subject=f"Lead {i}", unsubscribe_url=f"https://x.example/u?token={i}",
                              content=Content(group_key=str(i), html=shared.html, text=shared.text)
                              if per_email_content else shared) for i in range(n)]

    with ScriptedServer() as server:
        mailer = SendGridMailer("SG.bench", server.url)
        for label, emails in (("batched (≤1,000 personalizations/request)", batch(False)),
                              ("unbatched (1 request/email)", batch(True)[: max(1, n // 10)])):
            before = len(server.requests)
            start = time.perf_counter()
            mailer.send_batch(emails)
            elapsed = time.perf_counter() - start
            print(f"emails via SendGrid SDK → local server, {label}: {len(emails)} emails, "
                  f"{len(server.requests) - before} requests, {len(emails) / elapsed:,.0f} emails/s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--emails", type=int, default=5000, help="0: skip the email benchmark")
    parser.add_argument("--templates", nargs="+", choices=TEMPLATES, default=TEMPLATES)
    args = parser.parse_args()
    bench_documents(args.docs, args.workers, args.templates)
    if args.emails:
        bench_emails(args.emails)


if __name__ == "__main__":
    main()
