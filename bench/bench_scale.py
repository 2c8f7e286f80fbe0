"""Issue 17: the county graph's compute stages at scale, beside a bare single-process floor.

    python bench/bench_scale.py              # 1× the King County file (5,348 sales, 4,710 parcels)
    python bench/bench_scale.py --10x        # 1× and 10×
    python bench/bench_scale.py --25x        # 1×, 10× and 25×
    python bench/bench_scale.py --scale 40 --no-floor   # any scale, graph only

    python bench/bench_scale.py --scale 8 --in-process --repeat 2 --models-from DIR --stages \
        sales,prospects,enrichment,features,scores    # 43k as one in-process run, alternated with the floor

`make bench` runs it at 1× with `--per-step --in-process` (`make bench SCALE=10x` or `SCALE=25x`
adds the larger runs).

`--in-process`: the stages as ONE Dagster run with the in-process executor in one fresh process,
through `county_runs.materialize_county` (what `reos materialize` and `make demo` run): a county's
graph as the local environment runs it, the imports and the pool paid once. Per step its seconds
from the run's events; the run's wall (RUN_START → RUN_SUCCESS) and the process's (imports
included), its CPU and peak RSS; then the floor, and the ratios. Each in-process run writes into a
fresh database (after `--per-step`, a second one), so it is a first load as the per-step run is.

For each scale: a replicated county file (N copies of data/king_wa/ex_sales.csv, each copy's
parcels moved by one random offset, σ ≈ 150 m, with suffixed parcel and sale ids — the same
replication as bench_enrich.replicated_sales, on the raw file), a config directory whose only
county is king_wa reading it, and a fresh database on the machine's PostgreSQL (migrated, one
tenant). Each asset (sales, prospects, enrichment, features, ml_model, scores) is materialized
in its own child process, as a step of the production executor would be: the figures per stage
are the step's seconds (Dagster's STEP_START → STEP_SUCCESS), rows and rows/s, the child's wall
time including imports, and the child's own peak RSS (`os.wait4`). Then bench/floor.py does the
same stages in one bare process on the same file and database, and the ratio graph/floor is
printed per stage and in total. `ml_model` (Optuna-tuned AVM, deal and propensity models) is
reported but is not one of the issue's stages: its total is shown apart (with `--models-from`
and `ml_model` left out of `--stages` it is not run, and the floor's training is left out of the
comparison).

Bytecode: the children read compiled modules from a bytecode cache (`--bytecode-cache`, warmed
by one import of the definitions and Great Expectations before the first stage), as a built
image's steps do (`pip install` compiles what it installs, and deploy/docker/Dockerfile compiles
the application). With PYTHONDONTWRITEBYTECODE set (this machine, CI) a checkout's own modules are
never compiled to disk, nor were the packages of a venv installed before `make install` compiled
them: every step process then compiles what it imports (measured on such a venv: ≈7 CPU s of
imports per process, and ≈7 s inside `features`' step, Great Expectations' import).
`--no-bytecode-cache` measures the environment as it is.

`--after-county DIR`: the fresh database first gets the King County rows of a kept smaller run
(DIR, as `--models-from`'s) under another county's name, so the county is not the deployment's
first. Before migration 0069 such a county's first loads kept the tables' indexes and maintained
them row by row (docs/scale.md "Stop 55 on this session's host"); since, each county is a partition
of its own, loaded and indexed apart ("Stop 56").
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STAGES = ["sales", "prospects", "enrichment", "features", "ml_model", "scores"]
ISSUE_STAGES = ["sales", "prospects", "enrichment", "features", "scores"]  # the issue's sales → scores
SOURCE = ROOT / "data" / "king_wa" / "ex_sales.csv"
JITTER_DEGREES = 0.0014  # σ per parcel copy, as bench_enrich.replicated_sales


def replicated_file(scale: int, path: Path, seed: int = 0) -> tuple[int, int]:
    """Write the raw King County file `scale` times (jittered coordinates, suffixed ids) to `path`;
    returns (sales, parcels)."""
    import numpy as np
    import pandas as pd

    raw = pd.read_csv(SOURCE, dtype=str, keep_default_na=False)
    codes, uniques = pd.factorize(raw["pinx"])
    lat, lon = raw["latitude"].astype(float).to_numpy(), raw["longitude"].astype(float).to_numpy()
    rng = np.random.default_rng(seed)
    with path.open("w") as out:
        for r in range(scale):
            jitter = rng.normal(0, JITTER_DEGREES, (len(uniques), 2))
            copy = raw.copy() if r else raw  # copy 0 is the real file, unmoved
            if r:
                copy["pinx"] = raw["pinx"] + f"-{r}"
                copy["sale_id"] = raw["sale_id"] + f"-{r}"
                copy["latitude"] = (lat + jitter[codes, 0]).round(9).astype(str)
                copy["longitude"] = (lon + jitter[codes, 1]).round(9).astype(str)
            copy.to_csv(out, index=False, header=r == 0)
    return len(raw) * scale, len(uniques) * scale


def write_config(config: Path, csv_path: Path) -> None:
    """The repository's config with one county, king_wa, reading `csv_path`."""
    import yaml

    shutil.copytree(ROOT / "config", config, ignore=shutil.ignore_patterns("counties"))
    (config / "counties").mkdir()
    county = yaml.safe_load((ROOT / "config" / "counties" / "king_wa.yaml").read_text())
    county["sources"][0]["path"] = str(csv_path)
    (config / "counties" / "king_wa.yaml").write_text(yaml.safe_dump(county))
    scoring = yaml.safe_load((config / "scoring.yaml").read_text())
    scoring["vectors_enabled"] = False  # property_vectors is not a stage here
    (config / "scoring.yaml").write_text(yaml.safe_dump(scoring))


def graph_and_instance() -> tuple[Any, Any]:
    """The asset graph's job and the Dagster instance a bench child runs it in. --instance keeps
    one instance across runs, so a stage can find its last materialization and skip an unchanged
    re-run (assets/unchanged.py); otherwise an ephemeral one."""
    import dagster as dg

    from realestate_assets.definitions import build_definitions

    job = build_definitions().resolve_implicit_global_asset_job_def()
    kept = os.environ.get("REOS_BENCH_INSTANCE")
    return job, dg.DagsterInstance.local_temp(tempdir=kept) if kept else dg.DagsterInstance.ephemeral()


def child(stage: str) -> None:
    """Materialize one asset of king_wa in this process (environment from the parent); print JSON.

    Besides the step's seconds: `dagster_tail`, Dagster's own work after the asset function
    returned (STEP_SUCCESS minus the step's first output event: the materialization and the check
    results stored in the instance), and `events`, how many events the step wrote."""
    started = time.perf_counter()
    import dagster as dg

    job, instance = graph_and_instance()
    imported = time.perf_counter() - started
    cpu_imported = process_cpu()
    result = job.execute_in_process(
        partition_key="king_wa", instance=instance, raise_on_error=True, asset_selection=[dg.AssetKey(stage)],
        run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}})
    # The process's CPU seconds after its imports (its ended children's included): the run (the
    # step and Dagster's work around it), the figure a change to a step's own code moves (the
    # imports' ≈5 CPU s vary by more).
    run_cpu = process_cpu() - cpu_imported
    print("RESULT " + json.dumps({"stage": stage, "imports": imported, "run_cpu": run_cpu,
                                  **step_figures(instance, result, stage)}), flush=True)


def process_cpu() -> float:
    """This process's CPU seconds and those of its ended children (a step's worker processes, if
    any: work moved into one is still the run's, twenty-fifth round (a))."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def step_figures(instance, result, stage: str) -> dict[str, float]:
    """One step's figures from its run's event log: `seconds` (STEP_START → STEP_SUCCESS),
    `dagster_tail` (Dagster's own work after the asset function returned: STEP_SUCCESS minus the
    step's first output event), `events` (how many the step wrote), `rows` and `explained` (from
    its materialization's metadata)."""
    step_start = step_end = returned = None
    events = 0
    for entry in instance.all_logs(result.run_id):
        event = entry.dagster_event
        if event is None or event.step_key != stage:
            continue
        events += 1
        if event.event_type_value == "STEP_START":
            step_start = entry.timestamp
        elif event.event_type_value == "STEP_OUTPUT" and returned is None:
            returned = entry.timestamp
        elif event.event_type_value == "STEP_SUCCESS":
            step_end = entry.timestamp
    materialized = result.asset_materializations_for_node(stage)
    metadata = materialized[0].metadata if materialized else {}
    count, explained = metadata.get("dagster/row_count"), metadata.get("explained_rows")
    return {"seconds": step_end - step_start, "dagster_tail": step_end - (returned or step_end), "events": events,
            "rows": int(count.value) if count is not None else 0,
            "explained": int(explained.value) if explained is not None else 0}


def child_in_process(stages: list[str]) -> None:
    """Materialize `stages` of king_wa as ONE Dagster run in this process, with the in-process
    executor, through the code `reos materialize` and `make demo` run (county_runs.materialize_county):
    the imports and the database pool are paid once for the whole graph. Prints JSON: per step the
    figures of `step_figures`, and the run's wall (RUN_START → RUN_SUCCESS) and CPU after imports."""
    started = time.perf_counter()
    import dagster as dg

    from realestate_assets.county_runs import materialize_county

    job, instance = graph_and_instance()
    imported = time.perf_counter() - started
    cpu_imported = process_cpu()
    runs = materialize_county(job, "king_wa", (), instance=instance,
                              asset_selection=[dg.AssetKey(s) for s in stages],
                              run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}})
    run_cpu = process_cpu() - cpu_imported
    (result,) = runs.results  # the stages are county assets: one run, no tenant runs
    marks = {e.dagster_event.event_type: e.timestamp for e in instance.all_logs(result.run_id)
             if e.dagster_event is not None}
    print("RESULT " + json.dumps({"imports": imported, "run_cpu": run_cpu,
                                  "run_seconds": marks[dg.DagsterEventType.RUN_SUCCESS]
                                  - marks[dg.DagsterEventType.RUN_START],
                                  "steps": {s: step_figures(instance, result, s) for s in stages}}), flush=True)


# py-spy's options under `--profile`: raw stacks at 50 Hz, the child never paused. `--profile-waits`
# adds `--idle`: the stacks of threads that wait too (on the server, a pipe, a lock), so a step's
# samples add up to its wall time instead of its CPU time.
PY_SPY_OPTIONS = ["--format", "raw", "--rate", "50", "--nonblocking"]


def run_child(stage: str, env: dict[str, str], profile: Path | None = None,
              args: list[str] | None = None) -> dict[str, Any]:
    """A child process (`--child stage`, or `args`); its RESULT JSON with its wall, CPU and peak."""
    command = [sys.executable, __file__, *(args or ["--child", stage])]
    if profile is not None:  # py-spy samples the child from outside: the step's code runs unchanged
        command = [str(Path(sys.executable).with_name("py-spy")), "record", *PY_SPY_OPTIONS,
                   "--output", str(profile / f"{stage}.txt"), "--", *command]
    started = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{stage} failed (exit {proc.returncode}):\n{out[-3000:]}")
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    # Under py-spy the waited process is py-spy, not the step: no honest peak then.
    peak = float("nan") if profile is not None else usage.ru_maxrss / 1024
    # CPU seconds (user + system) of the child, imports included: on a machine shared with other
    # work they move far less than wall seconds (the database server's CPU is not in them).
    return {**json.loads(line[7:]), "wall": time.perf_counter() - started, "peak_mb": peak,
            "cpu": usage.ru_utime + usage.ru_stime}


def load() -> str:
    return "load " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def create_database(url_prefix: str = "postgresql+psycopg2://postgres@127.0.0.1:5432") -> str:
    """A fresh, migrated database on the machine's PostgreSQL (default planner settings: the
    writes analyze a freshly loaded slice themselves, db/warehouse.py::refresh_statistics)."""
    import uuid

    from psycopg2 import sql

    from realestate_assets.db.migrate import upgrade
    from tests.databases import LOCAL_ADMIN_DSN, _admin_connection

    name = f"{os.environ.get('REOS_BENCH_DB_PREFIX', 'reos')}_scale_{uuid.uuid4().hex[:10]}"
    admin = _admin_connection(LOCAL_ADMIN_DSN)
    with admin.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    admin.close()
    url = f"{url_prefix}/{name}"
    upgrade(url)
    return url


def drop_database(url: str) -> None:
    from psycopg2 import sql

    from tests.databases import LOCAL_ADMIN_DSN, _admin_connection

    admin = _admin_connection(LOCAL_ADMIN_DSN)
    with admin.cursor() as cur:
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(url.rsplit("/", 1)[1])))
    admin.close()


def prepare(scale: int, workdir: Path) -> dict[str, str]:
    """The replicated file, its config directory and a fresh database; saved as workdir/bench.json."""
    from tests.databases import create_tenant

    csv_path = workdir / "king_wa_x.csv"
    n_sales, n_parcels = replicated_file(scale, csv_path)
    write_config(workdir / "config", csv_path)
    url = create_database()
    setup = {"scale": str(scale), "sales": str(n_sales), "parcels": str(n_parcels), "csv": str(csv_path),
             "DATABASE_URL": url, "REOS_CONFIG_DIR": str(workdir / "config"),
             "REOS_STATE_DIR": str(workdir / "state"), "REOS_TENANT": create_tenant(url)}
    (workdir / "bench.json").write_text(json.dumps(setup))
    return setup


def borrow_models(setup: dict[str, str], source: Path | dict[str, str]) -> None:
    """Register the models of a kept smaller run (`--keep`, same county) in this run's database:
    their `ml_models` rows and their artifacts. `ml_model` (Optuna) is not one of the issue's
    stages and takes tens of minutes past 10× on this machine; `scores` only needs an active
    model, and one trained on 1× of the same file is as good for timing the scoring of N×."""
    import psycopg2

    from tests.databases import psycopg2_dsn as dsn

    donor = source if isinstance(source, dict) else json.loads((source / "bench.json").read_text())
    rows = io.StringIO()
    with psycopg2.connect(dsn(donor["DATABASE_URL"])) as conn, conn.cursor() as cur:
        cur.copy_expert("COPY (SELECT * FROM ml_models WHERE county = 'king_wa') TO STDOUT", rows)
    rows.seek(0)
    with psycopg2.connect(dsn(setup["DATABASE_URL"])) as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM ml_models WHERE county = 'king_wa'")
        cur.copy_expert("COPY ml_models FROM STDIN", rows)
        # The copied ids are the donor's: move the id sequence past them, or an `ml_model` run in
        # this database after the borrow fails on ml_models_pkey.
        cur.execute("SELECT setval(pg_get_serial_sequence('ml_models', 'id'), "
                    "(SELECT coalesce(max(id), 0) + 1 FROM ml_models), false)")
        cur.execute("SELECT count(*) FROM ml_models WHERE county = 'king_wa' AND is_active")
        active = cur.fetchone()[0]
    shutil.copytree(Path(donor["REOS_STATE_DIR"]) / "objects", Path(setup["REOS_STATE_DIR"]) / "objects",
                    dirs_exist_ok=True)
    print(f"models borrowed from the {donor['scale']}× run in {donor['DATABASE_URL'].rsplit('/', 1)[1]}: "
          f"{active} active", flush=True)
    # `ml_model` compiles the trees of a county that `scores` predicts with them when it registers
    # the models (registry.compile_active_models): the borrowed set is compiled here as this
    # county's registration would, and its cost reported apart, like training's (not a chain step).
    r = run_child("compile", {**child_env(setup, None), "REOS_BENCH_PARCELS": setup["parcels"]},
                  args=["--child-compile"])
    print(f"models' trees compiled as ml_model registers them (training's work, not a chain step): "
          f"{r['seconds']:.2f} s, {r['run_cpu']:.2f} CPU s after imports ({load()}): {r['engines']}", flush=True)


# The chain's tables: what `--after-county` fills with another county's rows before the chain.
CHAIN_TABLES = ("sales", "prospects", "prospect_sources", "enrichment", "features", "scores")
OTHER_COUNTY = "king_wa_before"  # the county name those rows are given


def hold_another_county(setup: dict[str, str], source: Path) -> None:
    """Give the chain's tables another county's rows before the chain runs, so that this county is
    not the deployment's first: the King County rows of a kept smaller run (`--keep`, sales →
    scores), under the county name OTHER_COUNTY, in partitions of its own (migration 0069), then
    `ANALYZE`d (as autovacuum would have done). Every column is copied but the sequence-numbered
    `id`, which the table numbers anew."""
    import psycopg2
    from psycopg2 import sql

    from realestate_assets.db.county_partitions import ensure_county_partitions
    from realestate_assets.db.slice_versions import writing_county
    from tests.databases import psycopg2_dsn as dsn

    donor = json.loads((source / "bench.json").read_text())
    counts: dict[str, int] = {}
    # closing() closes each connection; the bare `dst` makes the copies one transaction, committed
    # at the end (psycopg2's `with` on a connection commits but does not close it).
    with closing(psycopg2.connect(dsn(donor["DATABASE_URL"]))) as src, \
            closing(psycopg2.connect(dsn(setup["DATABASE_URL"]))) as dst, dst, src.cursor() as out, \
            dst.cursor() as into:
        writing_county(into, OTHER_COUNTY)  # a transaction-local setting: it ends with the copies' commit
        ensure_county_partitions(into, OTHER_COUNTY)  # as its own first loads would have made them (0069)
        for table in CHAIN_TABLES:
            into.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' "
                         "AND table_name = %s AND coalesce(column_default, '') NOT LIKE 'nextval(%%' "
                         "ORDER BY ordinal_position", (table,))
            columns = [c for (c,) in into.fetchall()]
            picked = sql.SQL(", ").join(sql.Literal(OTHER_COUNTY) if c == "county" else sql.Identifier(c)
                                        for c in columns)
            rows = io.StringIO()
            out.copy_expert(sql.SQL("COPY (SELECT {} FROM {} WHERE county = 'king_wa') TO STDOUT").format(
                picked, sql.Identifier(table)).as_string(out), rows)
            rows.seek(0)
            into.copy_expert(sql.SQL("COPY {} ({}) FROM STDIN").format(
                sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))).as_string(into), rows)
            counts[table] = into.rowcount
            into.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))  # as autovacuum would have
    print(f"another county's rows first ({OTHER_COUNTY}, from the {donor['scale']}× run): "
          + ", ".join(f"{table} {n:,}" for table, n in counts.items()), flush=True)


def child_compile() -> None:
    """What `ml_model` does after registering a model set for a county `scores` predicts with
    compiled trees (`registry.compile_active_models`), on this run's borrowed models; print JSON."""
    from realestate_assets.config_models import load_scoring
    from realestate_assets.db.warehouse import Warehouse
    from realestate_assets.ml.registry import compile_active_models, compiles_trees
    from realestate_assets.objects import LocalObjectStore

    started, cpu = time.perf_counter(), time.process_time()
    engines: dict[str, str] | str = f"not compiled: {os.environ['REOS_BENCH_PARCELS']} parcels"
    if compiles_trees(int(os.environ["REOS_BENCH_PARCELS"]), load_scoring(Path(os.environ["REOS_CONFIG_DIR"]))):
        engines = compile_active_models(Warehouse(os.environ["DATABASE_URL"]),
                                        LocalObjectStore(Path(os.environ["REOS_STATE_DIR"]) / "objects"),
                                        {"county": "king_wa"})
    print("RESULT " + json.dumps({"seconds": time.perf_counter() - started, "run_cpu": time.process_time() - cpu,
                                  "engines": engines}), flush=True)


DEFAULT_BYTECODE_CACHE = Path.home() / ".cache" / "reos-bench" / "pycache"
# What the steps import lazily, inside the step (features: Great Expectations): warmed too, so the
# first stage to import it does not pay its compilation either.
WARM_IMPORTS = "import realestate_assets.definitions, great_expectations"


def with_bytecode_cache(env: dict[str, str], cache: Path | None) -> dict[str, str]:
    """`env` for children that read and write compiled modules under `cache` (PYTHONPYCACHEPREFIX:
    the source trees, the shared venv included, are not written), warmed once here; `cache` None:
    the environment as it is."""
    if cache is None:
        return env
    cache.mkdir(parents=True, exist_ok=True)
    env = {**env, "PYTHONPYCACHEPREFIX": str(cache)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([sys.executable, "-c", WARM_IMPORTS], env=env, check=True, stdout=subprocess.DEVNULL)
    return env


def child_env(setup: dict[str, str], bytecode_cache: Path | None) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "REOS_ENV": "local",
           **{k: v for k, v in setup.items() if k.isupper()}}
    env.pop("DAGSTER_HOME", None)
    return with_bytecode_cache(env, bytecode_cache)


def run_stages(setup: dict[str, str], stages: list[str], profile: Path | None,
               bytecode_cache: Path | None = DEFAULT_BYTECODE_CACHE) -> dict[str, dict[str, float]]:
    env = child_env(setup, bytecode_cache)
    graph: dict[str, dict[str, float]] = {}
    print(f"{'stage':<11}{'step s':>9}{'rows':>10}{'rows/s':>10}{'proc s':>9}{'proc cpu':>9}{'peak MB':>9}"
          f"{'run cpu':>9}{'dagster':>9}{'events':>7}")
    for stage in stages:
        r = graph[stage] = run_child(stage, env, profile)
        print(f"{stage:<11}{r['seconds']:>9.2f}{r['rows']:>10,}{r['rows'] / r['seconds']:>10,.0f}"
              f"{r['wall']:>9.2f}{r['cpu']:>9.2f}{r['peak_mb']:>9,.0f}{r['run_cpu']:>9.2f}{r['dagster_tail']:>9.2f}"
              f"{r['events']:>7}"
              f"   ({load()})", flush=True)
    if all(s in graph for s in ISSUE_STAGES):
        total = sum(graph[s]["seconds"] for s in ISSUE_STAGES)
        with_training = f"; with it {total + graph['ml_model']['seconds']:.2f}" if "ml_model" in graph else ""
        print(f"{'sales→scores':<11}{total:>9.2f} (without ml_model{with_training}); max peak "
              f"{max(graph[s]['peak_mb'] for s in ISSUE_STAGES):,.0f} MB", flush=True)
    return graph


def run_in_process(setup: dict[str, str], stages: list[str], profile: Path | None,
                   bytecode_cache: Path | None = DEFAULT_BYTECODE_CACHE) -> dict[str, Any]:
    """`stages` as one Dagster run with the in-process executor, in one fresh process (as `reos
    materialize` or `make demo` runs a county): per step its seconds from the run's events; the
    process's wall, CPU (imports included) and peak RSS; the run's wall and its CPU after imports."""
    r = run_child("in_process", child_env(setup, bytecode_cache), profile,
                  ["--child-in-process", ",".join(stages)])
    print(f"in process, one run ({', '.join(stages)}; {load()})")
    print(f"{'stage':<11}{'step s':>9}{'rows':>10}{'rows/s':>10}{'dagster':>9}{'events':>7}")
    for stage, f in r["steps"].items():
        print(f"{stage:<11}{f['seconds']:>9.2f}{f['rows']:>10,}{f['rows'] / f['seconds']:>10,.0f}"
              f"{f['dagster_tail']:>9.2f}{f['events']:>7}")
    issue = [s for s in ISSUE_STAGES if s in r["steps"]]
    print(f"{'steps':<11}{sum(r['steps'][s]['seconds'] for s in issue):>9.2f} ({'→'.join(issue)}); run "
          f"{r['run_seconds']:.2f} s (RUN_START → RUN_SUCCESS, every step), process {r['wall']:.2f} s "
          f"(imports {r['imports']:.2f}); CPU {r['cpu']:.2f} s (run {r['run_cpu']:.2f} after imports); "
          f"peak {r['peak_mb']:,.0f} MB", flush=True)
    return r


def compare_in_process(setup: dict[str, str], run: dict[str, Any]) -> None:
    """The in-process run beside the floor: the run's wall (with and without the process's imports)
    and CPU against the floor's sales → scores (its stages only, as `compare`)."""
    from bench.floor import run_floor

    floor_stages = run_floor(Path(setup["csv"]), setup["DATABASE_URL"],
                             explain_rows=int(run["steps"].get("scores", {}).get("explained", 0)) or None)
    f_s = sum(s for n, s, _, _ in floor_stages if n in ISSUE_STAGES)
    f_cpu = sum(c for n, _, _, c in floor_stages if n in ISSUE_STAGES)
    f_peak = max(p for n, _, p, _ in floor_stages if n in ISSUE_STAGES)
    print(f"floor (bench/floor.py) vs the in-process run ({load()})")
    print(f"{'stage':<11}{'floor s':>9}{'floor cpu':>10}{'step s':>9}{'ratio s':>9}")
    for name, seconds, _peak, cpu in floor_stages:
        if name in run["steps"]:
            g = run["steps"][name]["seconds"]
            print(f"{name:<11}{seconds:>9.2f}{cpu:>10.2f}{g:>9.2f}{g / seconds if seconds else 0:>9.2f}")
    print(f"sales→scores: floor {f_s:.2f} s, {f_cpu:.2f} CPU s, peak {f_peak:,.0f} MB; in process: run "
          f"{run['run_seconds']:.2f} s = {run['run_seconds'] / f_s:.2f}× (with the imports {run['wall']:.2f} s = "
          f"{run['wall'] / f_s:.2f}×), CPU {run['run_cpu']:.2f} s after imports = {run['run_cpu'] / f_cpu:.2f}× "
          f"({run['cpu']:.2f} with them = {run['cpu'] / f_cpu:.2f}×), peak {run['peak_mb']:,.0f} MB", flush=True)


def fresh_copy(setup: dict[str, str], workdir: Path, donor_models: dict[str, str] | Path | None,
               after_county: Path | None = None) -> dict[str, str]:
    """Another fresh database (and state directory) for the same file and config: an in-process run
    writes into empty tables, as the per-step run did (or into tables holding `after_county`'s rows,
    as it did); models borrowed from `donor_models`."""
    from tests.databases import create_tenant

    url = create_database()
    copy = {**setup, "DATABASE_URL": url, "REOS_STATE_DIR": str(workdir), "REOS_TENANT": create_tenant(url)}
    if donor_models is not None:
        borrow_models(copy, donor_models)
    if after_county is not None:
        hold_another_county(copy, after_county)
    return copy


def compare(setup: dict[str, str], graph: dict[str, dict[str, float]]) -> None:
    from bench.floor import run_floor

    floor_stages = run_floor(Path(setup["csv"]), setup["DATABASE_URL"],
                             explain_rows=int(graph.get("scores", {}).get("explained", 0)) or None)
    print(f"\nfloor (bench/floor.py, one process) vs graph ({load()})")
    print(f"{'stage':<11}{'floor s':>9}{'floor MB':>9}{'graph s':>9}{'graph MB':>9}{'ratio s':>9}")
    for name, seconds, peak, _cpu in floor_stages:
        if name not in graph:  # ml_model, when the models were borrowed
            continue
        g = graph[name]
        print(f"{name:<11}{seconds:>9.2f}{peak:>9,.0f}{g['seconds']:>9.2f}{g['peak_mb']:>9,.0f}"
              f"{g['seconds'] / seconds if seconds else 0:>9.2f}")
    f_total = sum(s for n, s, _, _ in floor_stages if n in ISSUE_STAGES)
    total = sum(graph[s]["seconds"] for s in ISSUE_STAGES)
    print(f"{'total':<11}{f_total:>9.2f}{'':>9}{total:>9.2f}{'':>9}{total / f_total:>9.2f}"
          f"   (sales→scores, training apart)", flush=True)
    f_cpu = sum(c for n, _, _, c in floor_stages if n in ISSUE_STAGES)
    print(f"CPU seconds, sales→scores: floor {f_cpu:.2f} (stages only), graph "
          f"{sum(graph[s]['cpu'] for s in ISSUE_STAGES):.2f} (whole step processes, imports included)",
          flush=True)


def bench_scale(scale: int, floor: bool, keep: Path | None, profile: Path | None,
                stages: list[str] = STAGES, models_from: Path | None = None,
                bytecode_cache: Path | None = DEFAULT_BYTECODE_CACHE, per_step: bool = True,
                in_process: bool = False, repeat: int = 1, after_county: Path | None = None) -> None:
    """`per_step`: each stage in its own process (a production step), then the floor. `in_process`:
    the stages as one in-process run (local), then the floor, `repeat` times alternated, each run
    into a fresh database (models: `models_from`, else those the per-step run or the first in-process
    run trained); with `after_county`, a database that holds another county's rows first
    (`hold_another_county`)."""
    workdir = keep or Path(tempfile.mkdtemp(prefix=f"reos_scale{scale}_"))
    workdir.mkdir(parents=True, exist_ok=True)
    setup = prepare(scale, workdir)
    copies: list[dict[str, str]] = []
    try:
        print(f"\n## {scale}× King County: {int(setup['sales']):,} sales, {int(setup['parcels']):,} parcels "
              f"({load()})", flush=True)
        if models_from:
            borrow_models(setup, models_from)
        if after_county:
            hold_another_county(setup, after_county)
        trained: dict[str, str] | Path | None = models_from
        if per_step:
            graph = run_stages(setup, stages, profile, bytecode_cache)
            if floor and set(ISSUE_STAGES) <= set(graph):
                compare(setup, graph)
            trained = trained or (setup if "ml_model" in graph else None)
        for i in range(repeat if in_process else 0):
            if per_step or i:
                copies.append(fresh_copy(setup, workdir / f"state_in_process{i}", trained, after_county))
            target = copies[-1] if copies else setup
            run_stages_here = [s for s in stages if not (trained is not None and s == "ml_model")]
            print(f"\n## {scale}× in process, run {i + 1} of {repeat} ({load()})", flush=True)
            run = run_in_process(target, run_stages_here, profile, bytecode_cache)
            if floor and set(ISSUE_STAGES) <= set(run["steps"]):
                compare_in_process(target, run)
            trained = trained or (target if "ml_model" in run_stages_here else None)
    finally:
        for copy in copies if keep is None else []:
            drop_database(copy["DATABASE_URL"])
        if keep is None:
            drop_database(setup["DATABASE_URL"])
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"kept: {workdir} (re-run stages with --reuse {workdir} --stages ...)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--10x", dest="ten", action="store_true", help="also 10× the King County file")
    ap.add_argument("--25x", dest="twenty_five", action="store_true", help="also 10× and 25×")
    ap.add_argument("--scale", type=int, action="append", help="these scales instead (repeatable)")
    ap.add_argument("--no-floor", action="store_true", help="skip bench/floor.py")
    ap.add_argument("--profile", type=Path, help="py-spy each stage's child; raw stacks in this directory")
    ap.add_argument("--profile-waits", action="store_true",
                    help="--profile with py-spy's --idle: waiting threads sampled too (wall time, not CPU time)")
    ap.add_argument("--keep", type=Path, help="keep the file, config and database in this directory")
    ap.add_argument("--reuse", type=Path, help="a directory made with --keep: run --stages against it")
    ap.add_argument("--stages", default=",".join(STAGES),
                    help="comma-separated, in order (the floor needs sales → scores)")
    ap.add_argument("--models-from", type=Path,
                    help="a --keep directory of a smaller scale: use its trained models (leave ml_model "
                         "out of --stages)")
    ap.add_argument("--after-county", type=Path,
                    help="a --keep directory of a smaller run (sales → scores, e.g. --models-from's): its King "
                         "County rows are loaded first under another county's name, so this county is not "
                         "the deployment's first")
    ap.add_argument("--bytecode-cache", type=Path, default=DEFAULT_BYTECODE_CACHE,
                    help=f"the children's compiled modules (default {DEFAULT_BYTECODE_CACHE})")
    ap.add_argument("--no-bytecode-cache", action="store_true",
                    help="children import as the environment says (may compile every module per process)")
    ap.add_argument("--instance", type=Path,
                    help="a directory for one Dagster instance kept across runs (the default: a new "
                         "ephemeral one per stage, so nothing is ever skipped as unchanged)")
    ap.add_argument("--in-process", action="store_true",
                    help="the stages as ONE Dagster run with the in-process executor (as `reos materialize` "
                         "and `make demo`), beside the floor; with --per-step too, after the per-step run")
    ap.add_argument("--per-step", action="store_true",
                    help="each stage in its own process (the default unless --in-process is given)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="--in-process: this many runs, each into a fresh database, alternated with the floor")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--child-in-process", help=argparse.SUPPRESS)
    ap.add_argument("--child-compile", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_compile:
        child_compile()
        return
    if args.child:
        child(args.child)
        return
    if args.child_in_process:
        child_in_process(args.child_in_process.split(","))
        return
    cache = None if args.no_bytecode_cache else args.bytecode_cache
    if args.instance:  # the children read it from their environment (run_stages passes it on)
        args.instance.mkdir(parents=True, exist_ok=True)
        os.environ["REOS_BENCH_INSTANCE"] = str(args.instance.resolve())
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    if args.profile_waits:
        if not args.profile:
            ap.error("--profile-waits needs --profile DIR")
        PY_SPY_OPTIONS.append("--idle")
    if args.reuse:
        setup = json.loads((args.reuse / "bench.json").read_text())
        print(f"## {setup['scale']}× (reused {args.reuse}; {load()})")
        if args.models_from:
            borrow_models(setup, args.models_from)
        graph = run_stages(setup, args.stages.split(","), args.profile, cache)
        if not args.no_floor and set(ISSUE_STAGES) <= set(graph):
            compare(setup, graph)
        return
    scales = args.scale or [1] + ([10] if args.ten or args.twenty_five else []) + ([25] if args.twenty_five else [])
    for scale in scales:
        bench_scale(scale, not args.no_floor, args.keep and args.keep / f"x{scale}", args.profile,
                    args.stages.split(","), args.models_from, cache, per_step=args.per_step or not args.in_process,
                    in_process=args.in_process, repeat=args.repeat, after_county=args.after_county)


if __name__ == "__main__":
    main()
