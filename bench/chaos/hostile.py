"""Part 2, hostile input: a seeded corpus of generated rows, pages, webhook batches and unsubscribe
requests through the real readers and endpoints. Every input must end as a loaded row, a reject
with its reason or a handled error (a 4xx); none may crash (an exception, a 5xx, a failed
partition) and no hostile markup may come back unescaped.

(hypothesis is not in the lock file; a seeded `random.Random` generates the corpus, so a failure
is reproduced by re-running with the same seed.)
"""

from __future__ import annotations

import json
import random
import re
import time
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from bench.chaos.common import fresh_county, line, new_tenant, query

SEED = 14
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
MARKUP = ["<script>alert(1)</script>", "\"><img src=x onerror=alert(1)>", "<b onmouseover='x()'>hi</b>",
          "javascript:alert(1)", "</title><svg onload=alert(1)>"]
TEXTS = [*MARKUP, "'; DROP TABLE sales;--", "{token}", "{0.__class__}", "%s%s%n", "[%name%]", "\x00", "a\x00b",
         "line\r\nbreak", "tab\there", "\x1b[31mred", "\u202eevil", "\u2028sep", "💥🏠", "Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫ", "",
         " ", "NaN", "null", "None", "-inf", "1e309", "９９９", "0x10", "$1,000,000", "2999-01-01", "0000-00-00",
         "2015-02-30", "-1", "47.6,-122.3", '"', '""', "\\", "../../etc/passwd", "%00", "\ufeffbom"]
RAW_BYTES = [b"\xff\xfe", b"\xc0\xaf", b"Pe\xf1a", b"\xed\xa0\x80", b"\x80\x81\x82"]


def hostile_text(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.6:
        return rng.choice(TEXTS)
    if kind < 0.75:
        return rng.choice(TEXTS) * rng.choice([10, 1000, 20_000])
    if kind < 0.85:
        return "".join(chr(rng.randrange(0, 0x3000)) for _ in range(rng.randrange(1, 40)))
    return rng.choice("9A") * rng.choice([300, 5000, 120_000])


def hostile_value(rng: random.Random) -> object:
    """Any JSON value, hostile text most often."""
    kind = rng.random()
    if kind < 0.6:
        return hostile_text(rng)
    return rng.choice([None, True, -1, 0, 2**63, -(2**70), 1e308, 3.5, [], [hostile_text(rng)], {},
                       {"nested": {"deeper": [1, {"x": hostile_text(rng)}]}}, [[[[[]]]]]])


def dirty(value: object) -> bool:
    return isinstance(value, str) and bool(CONTROL.search(value))


class Tally:
    """Outcomes per target, and every crash with its input (kept short) for the report."""

    def __init__(self) -> None:
        self.counts: dict[str, Counter[str]] = {}
        self.crashes: list[str] = []
        self.unescaped: list[str] = []

    def add(self, target: str, outcome: str, n: int = 1) -> None:
        self.counts.setdefault(target, Counter())[outcome] += n

    def crash(self, target: str, what: object, exc: BaseException | str) -> None:
        self.add(target, "CRASH")
        detail = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
        self.crashes.append(f"{target}: {str(detail)[:200]} (input {str(what)[:80]!r})")

    def inputs(self) -> int:
        return sum(sum(c.values()) for t, c in self.counts.items() if not t.endswith("(rows loaded)"))


# ------------------------------------------------------------------ bulk file + sales asset

HEADER = ["pinx", "sale_id", "sale_price", "sale_date", "use_type", "area", "lot_sf", "wfnt", "bldg_grade", "tot_sf",
          "beds", "baths", "age", "eff_age", "longitude", "latitude"]


def csv_cell(value: str | bytes) -> bytes:
    data = value if isinstance(value, bytes) else value.encode("utf-8", errors="surrogatepass")
    if any(c in data for c in (b",", b'"', b"\r", b"\n")):
        return b'"' + data.replace(b'"', b'""') + b'"'
    return data


def hostile_csv(path: Path, n_rows: int, rng: random.Random) -> int:
    """Real King County rows, 60% of them with 1–3 cells replaced by hostile values; ~3% of the lines
    have too few or too many fields. Returns the number of data rows written."""
    from tests.samples import sample_sales

    base = sample_sales(n_parcels=400).fillna("")
    lines = [",".join(HEADER).encode()]
    for i in range(n_rows):
        row: dict[str, str | bytes] = {c: str(base.iloc[i % len(base)][c]) for c in HEADER}
        row["sale_id"] = f"h{i}"
        for column in rng.sample(HEADER, rng.randint(1, 3)) if rng.random() < 0.6 else []:
            row[column] = rng.choice(RAW_BYTES) if rng.random() < 0.1 else hostile_text(rng)
        cells = [csv_cell(row[c]) for c in HEADER]
        if rng.random() < 0.03:
            cells = cells[:rng.randint(1, len(cells) - 1)] if rng.random() < 0.5 else cells + [b"x"] * rng.randint(1, 4)
        lines.append(b",".join(cells))
    path.write_bytes(b"\n".join(lines) + b"\n")
    return n_rows


def bulk_rows(workspace: Path, url: str, n_rows: int, rng: random.Random, tally: Tally) -> None:
    """The bulk reader and validation (collect_sales), then the `sales` asset into PostgreSQL."""
    import yaml

    from realestate_assets.config_models import CountyConfig
    from realestate_assets.discovery.collect import collect_sales
    from realestate_assets.discovery.validate import text_limit
    from tests.samples import write_sample_config

    config = write_sample_config(workspace / "config", workspace / "data", n_parcels=20)
    csv_path = workspace / "data" / "hostile_sales.csv"
    written = hostile_csv(csv_path, n_rows, rng)
    county_file = config / "counties" / "king_wa.yaml"
    county = yaml.safe_load(county_file.read_text())
    county["sources"][0]["path"] = str(csv_path)
    county["quality"] = {"max_reject_rate": 1.0}  # the point is what lands, not the share
    county_file.write_text(yaml.safe_dump(county))
    target = "bulk file rows"
    try:
        collected = collect_sales(CountyConfig.model_validate({**county, "key": "king_wa"}))
    except Exception as exc:
        tally.crash(target, csv_path, exc)
        return
    loaded, rejected = len(collected.rows), len(collected.rejects)
    tally.add(target, "loaded", loaded)
    tally.add(target, "rejected", rejected)
    if loaded + rejected != written:
        tally.add(target, "unaccounted", abs(written - loaded - rejected))
        tally.crashes.append(f"{target}: {written} rows written, {loaded} loaded + {rejected} rejected")
    for column in collected.rows.select_dtypes(include="object").columns:
        values = collected.rows[column].dropna().astype(str)
        too_long = values.str.len() > text_limit(column)
        bad = values[values.map(dirty) | too_long]
        for value in bad.head(3):
            tally.crash(target, value, f"{column}: a loaded value is too long or holds control characters")
    print(line("bulk file: rows written / loaded / rejected", f"{written} / {loaded} / {rejected}"))
    print(line("bulk file: values cleaned (counted warnings)", sum(collected.cleaned.values())))
    print(line("bulk file: reject reasons", ", ".join(f"{r} ×{n}" for r, n in Counter(
        re.sub(r"\d+", "N", j.reason)[:40] for j in collected.rejects).most_common(6))))

    # The same file through the real `sales` asset: the partition must materialize.
    import dagster as dg

    from realestate_assets.definitions import build_definitions, resources_for
    from realestate_assets.settings import LocalSettings

    fresh_county(url)  # public county tables: only this part's sales rows
    tenant = new_tenant(url, "hostile")
    deployment = resources_for("local", LocalSettings(config_dir=config, state_dir=workspace / "state",
                                                      tenant_id=tenant), database_url=url)
    job = build_definitions(deployment=deployment).resolve_implicit_global_asset_job_def().get_subset(
        asset_selection={dg.AssetKey("sales")})
    target = "sales partition"
    try:
        result = job.execute_in_process(partition_key="king_wa", instance=dg.DagsterInstance.ephemeral(),
                                        raise_on_error=False,
                                        run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}})
    except Exception as exc:
        tally.crash(target, csv_path, exc)
        return
    if not result.success:
        tally.crash(target, csv_path, "the sales partition failed")
        return
    in_pg = int(query(url, "SELECT count(*) FROM sales WHERE county = 'king_wa'")[0][0])
    rejects_pg = int(query(url, "SELECT count(*) FROM rejects WHERE tenant_id IS NULL AND county = 'king_wa' "
                                "AND asset = 'sales'")[0][0])
    tally.add(target, "materialized")
    tally.add("sales partition (rows loaded)", "rows", in_pg)
    print(line("sales asset: rows in PostgreSQL / rejects", f"{in_pg} / {rejects_pg}"))
    if in_pg != loaded or rejects_pg != rejected:
        tally.crashes.append(f"{target}: PostgreSQL holds {in_pg} rows / {rejects_pg} rejects, "
                             f"the reader gave {loaded} / {rejected}")


# ------------------------------------------------------------------ listing pages


def hostile_jsonld(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.1:
        return '{"@type": "RealEstateListing", "name": "trunc'  # broken JSON
    if kind < 0.15:
        return json.dumps(hostile_value(rng))
    if kind < 0.2:  # deep nesting (written out: json.dumps itself refuses this depth)
        depth = rng.choice([50, 500, 5000])
        return '{"@graph": [' * depth + '{"@type": "RealEstateListing"}' + "]}" * depth
    address = {"@type": "PostalAddress", "streetAddress": hostile_text(rng) if rng.random() < 0.5 else "1 Main St",
               "addressLocality": hostile_value(rng), "addressRegion": hostile_value(rng),
               "postalCode": hostile_value(rng)}
    doc = {"@context": "https://schema.org", "@type": rng.choice(["RealEstateListing", "Product", ["Offer"], None]),
           "url": rng.choice([hostile_text(rng), "javascript:alert(1)", "/ok", "http://site.test/a"]),
           "identifier": hostile_value(rng), "description": hostile_value(rng), "datePosted": hostile_value(rng),
           "image": rng.choice([hostile_value(rng), [f"http://x/{i}.jpg" for i in range(200)]]),
           "offers": rng.choice([{"@type": "Offer", "price": hostile_value(rng)}, hostile_value(rng)]),
           "mainEntity": {"@type": "SingleFamilyResidence", "numberOfBedrooms": hostile_value(rng),
                          "floorSize": {"value": hostile_value(rng), "unitCode": hostile_value(rng)},
                          "address": address if rng.random() < 0.8 else hostile_value(rng)}}
    return json.dumps(doc).replace("</", "<\\/") if rng.random() < 0.7 else json.dumps(doc)


def hostile_page(rng: random.Random) -> str:
    scripts = "".join(f"<script type='application/ld+json'>{hostile_jsonld(rng)}</script>"
                      for _ in range(rng.randint(0, 3)))
    cards = "".join(
        f"<div class='card'><a class='link' href='{hostile_text(rng)[:200]}'>x</a>"
        f"<span class='addr'>{hostile_text(rng)}</span><span class='price'>{hostile_text(rng)[:50]}</span></div>"
        for _ in range(rng.randint(0, 4)))
    tail = rng.choice(["", "<div><span>", "</html></html>", "<!--", "<![CDATA[", "\x00" * 10])
    return f"<html><head>{scripts}</head><body>{cards}{tail}</body></html>"


def listing_pages(n_pages: int, rng: random.Random, tally: Tally) -> None:
    from parsel import Selector

    from realestate_assets.config_models import ListingSiteSource
    from realestate_assets.discovery.listing.extract import extract
    from realestate_assets.discovery.listing.items import validate_candidate

    source = ListingSiteSource(type="listing_site", name="hostile", start_urls=["http://site.test/list"],
                               item_selector="div.card", selectors={
                                   "address": "span.addr::text", "list_price": "span.price::text",
                                   "url": "a.link::attr(href)"})
    target = "listing pages"
    items = rejects = 0
    for i in range(n_pages):
        page = hostile_page(rng)
        page_url = f"http://site.test/list?page={i}"
        try:
            for kind, payload, how in extract(Selector(text=page), source, page_url):
                if kind != "candidate":
                    continue
                item, reason = validate_candidate(payload, page_url, how)
                if item is None:
                    rejects += 1
                    if not reason:
                        tally.crash(target, payload, "a rejected candidate without a reason")
                    continue
                items += 1
                for name, value in item.model_dump().items():
                    if dirty(value):
                        tally.crash(target, value, f"{name}: a kept value holds control characters")
            tally.add(target, "handled")
        except Exception as exc:
            tally.crash(target, page[:120], exc)
    print(line("listing pages: pages / items kept / rejected", f"{n_pages} / {items} / {rejects}"))


# ------------------------------------------------------------------ parsers


def parsers(n: int, rng: random.Random, tally: Tally) -> None:
    from realestate_assets.discovery.addresses import normalize_address
    from realestate_assets.discovery.listing.items import clean_text, parse_number

    target = "parsers (address, number, text)"
    functions: list[Callable[[object], object]] = [
        lambda v: normalize_address(v, hostile_value(rng), hostile_value(rng), hostile_value(rng)),
        parse_number, clean_text]
    for _ in range(n):
        value = hostile_value(rng)
        for function in functions:
            try:
                out = function(value)
            except (ValueError, TypeError) as exc:  # a refusal the callers handle
                tally.add(target, f"refused by {getattr(function, '__name__', 'normalize_address')} "
                                  f"({type(exc).__name__})")
                continue
            except Exception as exc:
                tally.crash(target, value, exc)
                continue
            tally.add(target, "handled")
            if isinstance(out, str) and "\x00" in out:
                tally.crash(target, value, "output holds NUL")


# ------------------------------------------------------------------ webhook + unsubscribe


def hostile_event(rng: random.Random, tenant: str, n: int) -> object:
    if rng.random() < 0.1:
        return hostile_value(rng)
    event: dict[str, object] = {
        "event": rng.choice(["delivered", "open", "bounce", "dropped", "unsubscribe", "spamreport",
                             hostile_text(rng)]),
        "email": rng.choice([hostile_text(rng), f"x{n}@example.com", None, 5]),
        "timestamp": rng.choice([int(time.time()), hostile_value(rng), "1e309", float("nan"), -1e20, 10**30]),
        "sg_event_id": rng.choice([f"ev-{tenant}-{n}", hostile_value(rng)]),
        "reos_email_id": hostile_value(rng), "reos_tenant": rng.choice([tenant, hostile_value(rng)]),
        "reason": hostile_value(rng)}
    for key in rng.sample(list(event), rng.randint(0, 2)):
        event.pop(key)
    return event


def http_endpoints(url: str, n_batches: int, n_unsubscribes: int, rng: random.Random, tally: Tally) -> None:
    from fastapi.testclient import TestClient

    from realestate_assets.api.app import SIGNATURE_HEADER, TIMESTAMP_HEADER, ApiSettings, create_app
    from realestate_assets.outreach.messages import unsubscribe_token
    from tests.outreach.helpers_outreach import WebhookKeys

    tenant = new_tenant(url, "hostile_api")
    keys, secret = WebhookKeys(), "chaos-unsubscribe-secret"
    app = create_app(ApiSettings(database_url=url, webhook_public_key=keys.public_b64,
                                 unsubscribe_secret=secret))
    client = TestClient(app, raise_server_exceptions=False)
    strict = TestClient(app)  # a 5xx is asked again here, for the exception behind it

    def cause(method: str, path: str, **kwargs: object) -> str:
        try:
            strict.request(method, path, **kwargs)  # type: ignore[arg-type]
        except Exception as exc:
            return f"{type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}"
        return "5xx"
    target = "webhook batches"
    recorded = 0
    outcomes = ("recorded", "duplicate", "invalid", "rejected")
    for b in range(n_batches):
        events = [hostile_event(rng, tenant, b * 10 + i) for i in range(rng.randint(1, 6))]
        body = json.dumps(events, allow_nan=True) if rng.random() < 0.95 else hostile_text(rng)
        timestamp = str(int(time.time())) if rng.random() < 0.9 else rng.choice(["nan", "inf", "1e309", "-5", "x"])
        signature = keys.sign(body, timestamp) if rng.random() < 0.9 else hostile_text(rng)[:200]
        request = {"content": body.encode("utf-8", "surrogatepass"), "headers": {
            "Content-Type": "application/json", TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature.encode("ascii", "ignore").decode()}}
        try:
            response = client.post("/webhooks/sendgrid", **request)  # type: ignore[arg-type]
        except Exception as exc:
            tally.crash(target, body, exc)
            continue
        if response.status_code >= 500:
            tally.crash(target, body, f"HTTP {response.status_code} "
                                      f"({cause('POST', '/webhooks/sendgrid', **request)})")
            continue
        tally.add(target, f"HTTP {response.status_code}")
        if response.status_code == 200:
            counts = response.json()
            recorded += int(counts.get("recorded", 0))
            if sum(int(counts.get(k, 0)) for k in outcomes) != counts.get("received"):
                tally.crash(target, body, f"events not accounted for: {counts}")
    stored = int(query(url, "SELECT count(*) FROM email_events")[0][0])
    print(line("webhook: batches / events recorded / stored", f"{n_batches} / {recorded} / {stored}"))
    if stored != recorded:
        tally.crashes.append(f"{target}: {recorded} events recorded but {stored} rows in email_events")

    target = "unsubscribe requests"
    for _ in range(n_unsubscribes):
        email = rng.choice([*MARKUP, hostile_text(rng)[:300], "ok@example.com"])
        who = rng.choice([tenant, tenant, hostile_text(rng)[:50], "deleted_tenant"])
        kind = rng.random()
        token = unsubscribe_token(secret, who, email) if kind < 0.6 else (
            hostile_text(rng)[:2000] if kind < 0.9 else unsubscribe_token("wrong", tenant, email))
        method = rng.choice(["GET", "POST"])
        request = {"params": {"token": token},
                   "content": rng.choice([b"List-Unsubscribe=One-Click", b"", b"\xff" * 100])}
        try:
            response = client.request(method, "/unsubscribe", **request)  # type: ignore[arg-type]
        except Exception as exc:
            tally.crash(target, token, exc)
            continue
        if response.status_code >= 500:
            tally.crash(target, f"{method} {email!r} tenant {who!r}",
                        f"HTTP {response.status_code} ({cause(method, '/unsubscribe', **request)})")
            continue
        tally.add(target, f"HTTP {response.status_code}")
        for raw in (email, email.lower(), token):
            if re.search(r"[<>\"']", raw) and raw in response.text:
                tally.unescaped.append(f"unsubscribe {method}: {raw[:60]!r} returned unescaped")
                break


def email_tokens(n: int, rng: random.Random, tally: Tally) -> None:
    """Hostile values in the subject/intro tokens of the configured campaign templates (the
    templates are operator configuration; the values come from the data)."""
    import yaml

    from realestate_assets.outreach.messages import personalize
    from realestate_assets.settings import repo_root

    campaigns = (repo_root() / "config" / "campaigns.yaml").read_text()
    templates = sorted(set(re.findall(r"[^\n\"']*\{[a-z_]+\}[^\n\"']*", campaigns))) or ["{address}"]
    yaml.safe_load(campaigns)  # the file the templates come from parses
    target = "subject/intro tokens"
    for _ in range(n):
        template = rng.choice([*templates, "{address} {missing}"])
        try:
            tokens = {name: hostile_value(rng) for name in re.findall(r"\{([a-z_]+)\}", template)}
            out = personalize(template, {**tokens, "missing": None} if "missing" in tokens else tokens)
        except Exception as exc:
            tally.crash(target, template, exc)
            continue
        tally.add(target, "handled")
        if not isinstance(out, str):
            tally.crash(target, template, f"not text: {type(out).__name__}")


def email_messages(n: int, rng: random.Random, tally: Tally) -> None:
    """Hostile recipient names, subjects (a header injection among them) and attachment names
    through the message builder: each message builds or fails alone; nothing lands unescaped in
    the HTML part and no header is injected."""
    import email
    import email.policy

    from realestate_assets.outreach.messages import (
        Attachment,
        Content,
        OutgoingEmail,
        header_text,
        personalize,
        placeholder,
        safe_filename,
    )

    target = "email messages"
    injection = "Deal\r\nBcc: victim@example.com\r\n\r\n<script>x</script>"
    for i in range(n):
        name = rng.choice([*MARKUP, injection, hostile_text(rng)[:300]])
        subject = personalize("{parcel_id} scores {score}", {"parcel_id": rng.choice([injection, hostile_text(rng)]),
                                                             "score": hostile_value(rng)})
        html = f"<p>Hello {placeholder('first_name')} / {placeholder('name')}</p>"
        attachment = Attachment(safe_filename(f"{hostile_text(rng)[:300]}.pdf"), "application/pdf", b"%PDF-1.4")
        message = OutgoingEmail(email_id=i, tenant_id="t", campaign="new_opportunity",
                                to_email=f"x{i}@example.com", to_name=header_text(name), from_email="deals@reos.test",
                                from_name="Deals", subject=header_text(subject),
                                content=Content(group_key="g", html=html, text="Hello", attachments=(attachment,)),
                                unsubscribe_url="https://reos.test/unsubscribe?token=x")
        try:
            data = message.to_mime().as_bytes()
        except Exception as exc:  # the outbox and SendGrid paths fail this one email with the reason
            tally.add(target, f"failed alone ({type(exc).__name__})")
            continue
        tally.add(target, "built")
        parsed = email.message_from_bytes(data, policy=email.policy.default)
        if parsed["Bcc"] is not None or "\n" in str(parsed["Subject"]):
            tally.unescaped.append(f"{target}: header injected by {subject[:60]!r}")
        body = parsed.get_body(preferencelist=("html",))
        html_out = body.get_content() if body is not None else ""
        for markup in MARKUP:  # markup only: "javascript:" as text inside <p> is inert
            if re.search(r"[<>\"']", markup) and markup in name and markup in html_out:
                tally.unescaped.append(f"{target}: {markup!r} in the HTML part")


def run(workspace: Path, url: str, *, quick: bool = False) -> bool:
    print(f"\n=== hostile: a seeded corpus (seed {SEED}) through the readers and the API", flush=True)
    workspace.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED)
    tally = Tally()
    scale = 0.4 if quick else 1.0
    steps: list[tuple[str, Callable[[], None]]] = [
        ("bulk", lambda: bulk_rows(workspace, url, int(1500 * scale), rng, tally)),
        ("listing", lambda: listing_pages(int(400 * scale), rng, tally)),
        ("parsers", lambda: parsers(int(1000 * scale), rng, tally)),
        ("http", lambda: http_endpoints(url, int(300 * scale), int(300 * scale), rng, tally)),
        ("tokens", lambda: email_tokens(int(300 * scale), rng, tally)),
        ("messages", lambda: email_messages(int(300 * scale), rng, tally)),
    ]
    for name, step in steps:
        try:
            step()
        except Exception as exc:  # the harness's own failure: reported, the other steps still run
            traceback.print_exc()
            tally.crash(name, "", exc)
    print("hostile figures:")
    for target, counts in tally.counts.items():
        print(line(target, ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))))
    print(line("inputs in the corpus", tally.inputs()))
    print(line("crashes (exceptions, 5xx, failed partitions)", len(tally.crashes)))
    print(line("unescaped output", len(tally.unescaped)))
    distinct: dict[str, str] = {}
    for problem in tally.crashes + tally.unescaped:  # one example per kind of failure
        distinct.setdefault(re.sub(r"\(input .*", "", problem)[:90], problem)
    for problem in list(distinct.values())[:20]:
        print(f"    ! {problem}")
    return not tally.crashes and not tally.unescaped and tally.inputs() >= (400 if quick else 1000)
