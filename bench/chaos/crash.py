"""Part 1, crashes: SIGKILL a real materialization of the county graph at many points, re-run it to
completion, and compare with a clean run: rows by natural key, duplicates, packet objects against
their sha256, emails against the outbox's .eml files (a file written twice is an email re-sent).

The child is `bench.chaos.materialize` (the same job `make demo` runs, on a small real sample of
King County) in its own process group, killed with SIGKILL as a pod would be. Kill points are
chosen from outside, no product code knows about them:

* `stage`   — at a fraction of a stage's wall time in a clean run, after the child reports the
              stage started (Dagster's STEP_START, read from its instance);
* `sql`     — when PostgreSQL shows the child inside a write transaction of a stage
              (pg_stat_activity: an open transaction whose statement matches);
* `files`   — when the n-th new file appears in the object store (mid-render, mid-upload) or
              in the outbox (mid-send, or between the send and the `sent` commit).

Kills are grouped in rounds; each round starts from an empty tenant and an undiscovered county
(public county tables emptied: they are shared by every tenant, so discovery, enrichment, models
and scores have work to do as well as rendering and sending), kills one attempt per point in
pipeline order, then runs to completion and compares with the clean run.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.chaos.common import (
    ROOT,
    bad_packet_objects,
    compare,
    email_status,
    file_identities,
    fresh_county,
    line,
    new_tenant,
    query,
    resent_paths,
    snapshot,
)

COUNTY = "king_wa"
N_PARCELS = 80


@dataclass(frozen=True)
class KillPoint:
    kind: str  # stage | sql | files
    stage: str  # the stage the point aims at (rounds are ordered by it)
    fraction: float = 0.0  # stage: of the clean run's stage time
    pattern: str = ""  # sql: regex over the open transaction's statement
    directory: str = ""  # files: outbox | objects
    count: int = 1  # files: the n-th new file
    label: str = ""  # sql: what the transaction is

    @property
    def name(self) -> str:
        if self.kind == "stage":
            return f"{self.stage}@{self.fraction:.2f}"
        if self.kind == "sql":
            return f"{self.stage}:in {self.label or 'write'} transaction"
        return f"{self.stage}:{self.directory}#{self.count}"


@dataclass
class Tenant:
    """One tenant's run environment: its own state directory (objects, outbox, Qdrant)."""

    id: str
    state: Path

    @property
    def outbox(self) -> Path:
        return self.state / "outbox"

    @property
    def objects(self) -> Path:
        return self.state / "objects"


@dataclass
class Attempt:
    point: KillPoint | None
    fired: bool = False
    exit_code: int | None = None
    landed: str = ""  # the stage running when the kill came
    seconds: float = 0.0
    kill_at: float = 0.0  # seconds after the child started
    in_transaction: bool = False
    written_not_marked: int = 0  # .eml files on disk beyond the rows marked sent, just after the kill
    rewritten: list[str] = field(default_factory=list)
    steps: dict[str, tuple[float, float | None]] = field(default_factory=dict)  # step: (start, end)
    output: list[str] = field(default_factory=list)


class Child:
    """The materialization subprocess and what it reports about its steps."""

    def __init__(self, url: str, config: Path, tenant: Tenant) -> None:
        command = [sys.executable, "-m", "bench.chaos.materialize", "--database-url", url, "--config", str(config),
                   "--state", str(tenant.state), "--tenant", tenant.id, "--county", COUNTY]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.started = time.monotonic()
        self.proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, start_new_session=True)  # its own group: kill it all, as a pod
        self.steps: dict[str, list[float | None]] = {}
        self.order: list[str] = []
        self.output: list[str] = []
        self.step_started = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for text in self.proc.stdout:
            parts = text.split()
            with self.step_started:
                if len(parts) == 3 and parts[0] == "STEP_START":
                    self.steps[parts[1]] = [float(parts[2]), None]
                    self.order.append(parts[1])
                    self.step_started.notify_all()
                elif len(parts) == 3 and parts[0] in ("STEP_SUCCESS", "STEP_FAILURE") and parts[1] in self.steps:
                    self.steps[parts[1]][1] = float(parts[2])
                else:
                    self.output.append(text.rstrip())
        with self.step_started:
            self.step_started.notify_all()

    def wait_for_step(self, step: str) -> bool:
        with self.step_started:
            while step not in self.steps and self.proc.poll() is None:
                self.step_started.wait(0.05)
            return step in self.steps

    def stage_over(self, step: str) -> bool:
        with self.step_started:
            return step in self.steps and self.steps[step][1] is not None

    def relative(self, at: float | None) -> float | None:
        return None if at is None else at - self.started

    def running_step(self) -> str:
        with self.step_started:
            open_steps = [s for s in self.order if self.steps[s][1] is None]
            return open_steps[-1] if open_steps else (f"after {self.order[-1]}" if self.order else "start-up")

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):  # already gone
            os.killpg(self.proc.pid, signal.SIGKILL)

    def finish(self, timeout: float = 900) -> int:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.proc.wait()
        self.reader.join(5)
        return code


def open_write_transaction(monitor, pattern: re.Pattern[str] | None = None) -> bool:
    """Whether a session of our database (other than the monitor's) is inside a transaction,
    optionally one whose current or last statement matches `pattern`."""
    with monitor.cursor() as cur:
        cur.execute("SELECT query FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND xact_start IS NOT NULL "
                    "AND state IN ('active', 'idle in transaction')")
        statements = [row[0] or "" for row in cur.fetchall()]
    return any(pattern is None or pattern.search(s) for s in statements)


def files(directory: Path, pattern: str) -> set[Path]:
    return set(directory.rglob(pattern)) if directory.is_dir() else set()


def run_attempt(url: str, config: Path, tenant: Tenant, point: KillPoint | None,
                clean_steps: dict[str, tuple[float, float | None]] | None = None) -> Attempt:
    import psycopg2

    from bench.chaos.common import psycopg2_dsn

    before = file_identities(tenant.outbox)
    attempt = Attempt(point)
    watched = (tenant.outbox if point.directory == "outbox" else tenant.objects) if point and point.kind == "files" \
        else None
    glob = "*.eml" if point and point.directory == "outbox" else "*.pdf"
    existing = files(watched, glob) if watched else set()
    monitor = psycopg2.connect(psycopg2_dsn(url))
    monitor.autocommit = True
    child = Child(url, config, tenant)
    try:
        if point is not None and child.wait_for_step(point.stage):
            # A stage that ends before its trigger (a re-run is faster than the clean run, or has
            # nothing left to send) is killed at its end: an attempt never completes by accident,
            # which would use up the fresh work the round's later points aim at.
            deadline = time.monotonic() + 600
            if point.kind == "stage":
                start, end = (clean_steps or {}).get(point.stage, (0.0, 1.0))
                duration = max((end or start + 1.0) - start, 0.0)
                target = float(child.steps[point.stage][0] or 0.0) + point.fraction * duration
                while child.proc.poll() is None and time.monotonic() < target and not child.stage_over(point.stage):
                    time.sleep(0.002)
            elif point.kind == "sql":
                pattern = re.compile(point.pattern, re.IGNORECASE)
                while child.proc.poll() is None and time.monotonic() < deadline and not child.stage_over(point.stage):
                    if open_write_transaction(monitor, pattern):
                        break
                    time.sleep(0.003)
            else:
                assert watched is not None
                while child.proc.poll() is None and time.monotonic() < deadline and not child.stage_over(point.stage):
                    if len(files(watched, glob) - existing) >= point.count:
                        break
                    time.sleep(0.003)
            attempt.fired = child.proc.poll() is None
            if attempt.fired:
                attempt.kill_at = time.monotonic() - child.started
                attempt.in_transaction = open_write_transaction(monitor)
                attempt.landed = child.running_step()
                child.kill()
        attempt.exit_code = child.finish()
        attempt.seconds = time.monotonic() - child.started
        attempt.fired = attempt.fired and attempt.exit_code == -signal.SIGKILL
        attempt.steps = {k: (v[0] - child.started, child.relative(v[1])) for k, v in child.steps.items()}  # type: ignore[misc,operator]
        attempt.output = child.output
        if attempt.fired:
            sent = query(url, "SELECT count(*) FROM emails WHERE tenant_id = %s AND status = 'sent'", (tenant.id,))
            attempt.written_not_marked = max(len(files(tenant.outbox, "*.eml")) - int(sent[0][0]), 0)
    finally:
        monitor.close()
        if child.proc.poll() is None:  # the harness itself was interrupted: leave no child behind
            child.kill()
    attempt.rewritten = resent_paths(before, file_identities(tenant.outbox))
    return attempt


def stage_of(landed: str) -> str:
    """The asset stage a kill landed in: `after X` (between X and the next step) and X's
    per-county freshness check step `X_county_fresh` count for X."""
    return landed.removeprefix("after ").removesuffix("_county_fresh")


def stage_order(steps: dict[str, tuple[float, float | None]]) -> list[str]:
    """The asset steps in the order they ran (the per-county freshness check steps left out)."""
    return [s for s in sorted(steps, key=lambda s: steps[s][0]) if not s.endswith("_county_fresh")]


def kill_points(stages: list[str], quick: bool, n_packets: int, n_emails: int) -> list[KillPoint]:
    """Points spread over every stage: fractions of its wall time, its write transactions, the
    object store (render/upload) and the outbox (send, and between send and the `sent` commit)."""
    fractions = (0.5,) if quick else (0.3, 0.8)
    aimed = stages[1::2] if quick else stages  # quick: every other stage by time, the rest by trigger
    points = [KillPoint("stage", s, fraction=f) for s in aimed for f in fractions]
    write = r"_stage|INSERT|UPDATE|DELETE|COPY"
    txn_stages = ("sales", "enrichment", "scores", "packets", "emails") if not quick else ("scores", "emails")
    points += [KillPoint("sql", s, pattern=write) for s in txn_stages if s in stages]
    points.append(KillPoint("sql", "emails", pattern=r"UPDATE emails SET status = 'sent'", label="mark-sent"))
    render = sorted({1, max(n_packets // 2, 1)}) if not quick else [max(n_packets // 2, 1)]
    points += [KillPoint("files", "packets", directory="objects", count=n) for n in render if n <= n_packets]
    send = sorted({1, max(n_emails // 2, 1), n_emails}) if not quick else [max(n_emails // 2, 1)]
    points += [KillPoint("files", "emails", directory="outbox", count=n) for n in send if 0 < n <= n_emails]
    return points


def rounds(points: list[KillPoint], stages: list[str], size: int) -> list[list[KillPoint]]:
    """Round-robin over the points in pipeline order, so each round spans every stage and each of
    its kills meets fresh work (nothing rendered or sent yet) at the stage it aims at."""
    order = {s: i for i, s in enumerate(stages)}
    ordered = sorted(points, key=lambda p: (order.get(p.stage, 99), p.kind, p.fraction, p.count))
    n = max(1, -(-len(ordered) // size))
    return [sorted(ordered[i::n], key=lambda p: (order.get(p.stage, 99), p.fraction, p.count)) for i in range(n)]


def run(workspace: Path, url: str, *, quick: bool = False) -> bool:
    from tests.samples import write_sample_config

    print(f"\n=== crash: SIGKILL a materialization of {COUNTY} ({N_PARCELS} sampled parcels) and re-run", flush=True)
    config = write_sample_config(workspace / "config", workspace / "data", n_parcels=N_PARCELS)

    fresh_county(url)
    clean = Tenant(new_tenant(url, "clean"), workspace / "clean")
    reference = run_attempt(url, config, clean, None)
    if reference.exit_code != 0:
        print("\n".join(reference.output[-30:]))
        print("FAIL the clean run failed; nothing to compare with")
        return False
    stages = stage_order(reference.steps)
    expected = snapshot(url, clean.id)
    n_packets, n_emails = expected["packets"].rows, expected["emails"].rows
    print(f"clean run: {reference.seconds:.1f} s, {n_packets} packets, {n_emails} emails, stages:")
    for s in stages:
        start, end = reference.steps[s]
        print(line(s, f"{start:7.2f} s → {end or 0:7.2f} s ({(end or start) - start:5.2f} s)", 20))

    points = kill_points(stages, quick, n_packets, n_emails)
    plan = rounds(points, stages, size=len(points) if quick else 8)
    print(f"{len(points)} kill points in {len(plan)} round(s)")
    print(f"  {'point':<40}{'landed in':<26}{'kill at s':>10} {'txn':>4} {'unmarked':>9}  rewritten")
    totals = {"fired": 0, "in_txn": 0, "unmarked": 0, "resent": 0, "lost": 0, "extra": 0, "duplicated": 0,
              "bad_objects": 0, "stuck": 0, "eml_mismatch": 0}
    landed: set[str] = set()
    ok = True
    for number, points_of_round in enumerate(plan, 1):
        fresh_county(url)  # the clean run's public rows are in `expected`
        tenant = Tenant(new_tenant(url, f"crash{number}"), workspace / f"crash{number}")
        for point in points_of_round:
            attempt = run_attempt(url, config, tenant, point, reference.steps)
            totals["resent"] += len(attempt.rewritten)
            if attempt.fired:
                totals["fired"] += 1
                totals["in_txn"] += attempt.in_transaction
                totals["unmarked"] += attempt.written_not_marked
                landed.add(attempt.landed)
            where = attempt.landed if attempt.fired else f"(no kill: exit {attempt.exit_code})"
            print(f"  {point.name:<40}{where:<26}{attempt.kill_at:>10.2f} {'yes' if attempt.in_transaction else '':>4} "
                  f"{attempt.written_not_marked:>9}  {len(attempt.rewritten)}", flush=True)
            if not attempt.fired:  # say why, from what the child printed
                print("\n".join(f"      | {text}" for text in attempt.output[-3:]), flush=True)
        final = run_attempt(url, config, tenant, None)
        totals["resent"] += len(final.rewritten)
        if final.exit_code != 0:
            print("\n".join(final.output[-30:]))
            ok = False
        differences = compare(expected, snapshot(url, tenant.id))
        for d in differences:
            totals["lost"] += d.lost
            totals["extra"] += d.extra
            totals["duplicated"] += d.duplicated
        bad = bad_packet_objects(url, tenant.id, tenant.objects)
        status = email_status(url, tenant.id)
        emls = len(files(tenant.outbox, "*.eml"))
        totals["bad_objects"] += len(bad)
        totals["stuck"] += status.get("sending", 0)
        totals["eml_mismatch"] += abs(emls - status.get("sent", 0))
        verdict = "same as clean" if not differences and not bad and status == email_status(url, clean.id) \
            else "; ".join(map(str, differences)) or f"emails {status} vs {email_status(url, clean.id)}"
        print(f"  round {number}: re-run {'succeeded' if final.exit_code == 0 else 'FAILED'} in {final.seconds:.1f} s; "
              f"{verdict}; {emls} .eml for {status.get('sent', 0)} sent; {len(bad)} bad objects; "
              f"re-sent {len(final.rewritten)}", flush=True)

    print("crash figures:")
    print(line("kills (SIGKILL of the process group)", f"{totals['fired']} of {len(points)} points fired"))
    covered = {stage_of(where) for where in landed}
    missing = [s for s in stages if s not in covered]
    print(line("stages a kill landed in (or right after)", f"{len(stages) - len(missing)} of {len(stages)}"
               + (f"; none in {', '.join(missing)}" if missing else "")))
    print(line("kills inside an open write transaction", totals["in_txn"]))
    print(line("emails written but not yet marked sent at a kill", totals["unmarked"]))
    for key in ("lost", "extra", "duplicated", "resent", "bad_objects", "stuck", "eml_mismatch"):
        print(line({"lost": "rows lost (vs clean)", "extra": "rows extra (vs clean)",
                    "duplicated": "natural-key duplicates", "resent": "emails re-sent (.eml written twice)",
                    "bad_objects": "packet objects missing / sha256 mismatch",
                    "stuck": "emails left `sending`", "eml_mismatch": ".eml files ≠ emails sent"}[key], totals[key]))
    enough = totals["fired"] >= (5 if quick else 20)
    if not enough:
        print(f"  too few kills fired ({totals['fired']})")
    damage = sum(totals[k] for k in ("lost", "extra", "duplicated", "resent", "bad_objects", "stuck", "eml_mismatch"))
    return ok and enough and damage == 0
