"""`reos` as an operator runs it: a subprocess with its own environment, against real servers.

* `reos db url` answers from the embedded server without loading Dagster (why it is fast), and
  `make clean` stops that server before deleting its directory, and is a no-op when nothing runs.
* `reos materialize` says in one line why it did nothing (inactive county) or why it stopped
  (county, failed step, first error line), shows each step, and exits non-zero.
* `make dev`'s supervisor leaves no process behind after one SIGTERM.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg2
import pytest
import yaml

from realestate_assets.db.embedded import stop_embedded
from realestate_assets.devserver import split_commands
from realestate_assets.settings import repo_root
from tests.databases import psycopg2_dsn
from tests.samples import write_sample_config

# Variables of the calling shell that would change which warehouse or instance the CLI uses.
CLEARED = ("DATABASE_URL", "DAGSTER_HOME", "REOS_ENV", "REOS_CONFIG_DIR", "REOS_STATE_DIR", "REOS_TENANT",
           "KUBERNETES_SERVICE_HOST", "REOS_DEBUG")


def reos(*args: str, env: dict[str, str], python_flags: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in CLEARED}
    # The repository first on the path, as an installed `reos` would import it.
    clean["PYTHONPATH"] = os.pathsep.join([str(repo_root()), clean.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return subprocess.run([sys.executable, *python_flags, "-m", "realestate_assets.cli", *args],
                          env={**clean, **env}, capture_output=True, text=True, timeout=600, cwd=repo_root())


def test_db_url_answers_from_the_running_embedded_server_and_make_clean_stops_it(tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = {"REOS_STATE_DIR": str(state)}
    first = reos("db", "url", env=env)  # starts the embedded server (initdb on first use)
    assert first.returncode == 0, first.stderr
    try:
        # Server up: the answer comes without importing Dagster or the asset graph (that is what
        # took ~6 s), and without any warning on stderr.
        again = reos("db", "url", env=env, python_flags=("-X", "importtime"))
        assert again.returncode == 0
        assert again.stdout == first.stdout and str(state / "pg") in again.stdout
        timings = [line for line in again.stderr.splitlines() if line.startswith("import time:")]
        imported = {line.split("|")[-1].strip() for line in timings}
        heavy = {m for m in imported
                 if m.split(".")[0] in ("dagster", "pandas") or m == "realestate_assets.definitions"}
        assert "typer" in imported and not heavy, heavy
        assert not [line for line in again.stderr.splitlines() if line not in timings]
        conn = psycopg2.connect(again.stdout.strip(), connect_timeout=5)
        with conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
            assert cur.fetchone() == (1,)
        conn.close()
        pid = int((state / "pg" / "postmaster.pid").read_text().split()[0])

        make = ["make", "-s", "clean", f"REOS_STATE_DIR={state}", f"VENV={sys.prefix}"]
        stopped = subprocess.run(make, cwd=repo_root(), capture_output=True, text=True, timeout=120,
                                 env={**os.environ, "PYTHONPATH": str(repo_root())})
        assert stopped.returncode == 0, stopped.stderr
        assert "stopped the embedded PostgreSQL" in stopped.stdout
        assert not state.exists()
        assert not _alive(pid), "make clean deleted the directory of a server it left running"
        # Nothing runs now: make clean is a quiet no-op, and so is stopping.
        again_clean = subprocess.run(make, cwd=repo_root(), capture_output=True, text=True, timeout=60)
        assert again_clean.returncode == 0 and again_clean.stderr == ""
        assert stop_embedded(state / "pg") is False
    finally:
        if (state / "pg").exists():
            stop_embedded(state / "pg")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


@pytest.fixture
def cli_env(database_url: str, tenant: str, tmp_path: Path) -> dict[str, str]:
    return {"DATABASE_URL": database_url, "REOS_TENANT": tenant, "REOS_STATE_DIR": str(tmp_path / "state"),
            "REOS_CONFIG_DIR": str(tmp_path / "config"), "GX_ANALYTICS_ENABLED": "False"}


def _county_file(env: dict[str, str]) -> Path:
    return Path(env["REOS_CONFIG_DIR"]) / "counties" / "king_wa.yaml"


def test_materialize_of_an_inactive_county_says_why_in_one_line(cli_env: dict[str, str], tmp_path: Path) -> None:
    write_sample_config(Path(cli_env["REOS_CONFIG_DIR"]), tmp_path / "data", n_parcels=20)
    county = yaml.safe_load(_county_file(cli_env).read_text())
    county["sources"] = [{**source, "enabled": False} for source in county["sources"]]
    _county_file(cli_env).write_text(yaml.safe_dump(county))

    result = reos("materialize", "--county", "king_wa", env=cli_env)
    assert result.returncode == 2
    assert result.stdout.strip().splitlines() == [
        "king_wa: inactive — every source is disabled (kc_assessor_sales); "
        "set `enabled: true` on one in config/counties/king_wa.yaml"]
    assert result.stderr == ""

    unknown = reos("materialize", "--county", "nowhere_xx", env=cli_env)
    assert unknown.returncode == 2
    assert len(unknown.stdout.strip().splitlines()) == 1 and "no county file" in unknown.stdout


def test_a_bad_county_file_is_named_by_reos_counties_and_refused_by_materialize(cli_env: dict[str, str],
                                                                               tmp_path: Path) -> None:
    write_sample_config(Path(cli_env["REOS_CONFIG_DIR"]), tmp_path / "data", n_parcels=20)
    bad = _county_file(cli_env).with_name("pierce_wa.yaml")
    bad.write_text(_county_file(cli_env).read_text().replace("state_fips: '53'", "state_fips: '5'"))

    listed = reos("counties", env=cli_env)
    assert listed.returncode == 1, listed.stdout + listed.stderr
    assert "king_wa" in listed.stdout and "active" in listed.stdout
    assert "pierce_wa" in listed.stdout and "disabled" in listed.stdout and "state_fips" in listed.stdout

    refused = reos("materialize", "--county", "pierce_wa", env=cli_env)
    assert refused.returncode == 2 and "Traceback" not in refused.stdout + refused.stderr
    assert "county disabled" in refused.stdout and "state_fips" in refused.stdout and "pierce_wa.yaml" in refused.stdout


def test_a_failed_run_is_one_line_with_county_step_and_first_error(cli_env: dict[str, str], tmp_path: Path) -> None:
    write_sample_config(Path(cli_env["REOS_CONFIG_DIR"]), tmp_path / "data", n_parcels=20, malformed=True)
    county = yaml.safe_load(_county_file(cli_env).read_text())
    county["quality"] = {"max_reject_rate": 0.0}  # the malformed rows trip the blocking check
    _county_file(cli_env).write_text(yaml.safe_dump(county))

    result = reos("materialize", "--county", "king_wa", env=cli_env)
    assert result.returncode == 1, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "Traceback" not in output and "Warning" not in output
    lines = result.stdout.strip().splitlines()
    # Each step as it ends, with seconds, rows and checks (started lines too: stdout is no terminal).
    assert "▶ sales" in result.stdout and any(line.strip().startswith("✓ listings") for line in lines)
    sales = next(line for line in lines if line.strip().startswith("✗ sales"))
    assert " s · " in sales and "reject_rate_below_ceiling (failed)" in sales
    assert lines[-1].startswith("king_wa: step sales failed — DagsterAssetCheckFailedError: 1 blocking asset check "
                                "failed with ERROR severity: sales: reject_rate_below_ceiling (after ")
    assert result.stderr == ""
    # The run is in the history the analytics read (no daemon sensor watches an in-process run).
    run_id = lines[-1].rsplit("runs ", 1)[1].rstrip(")").split(", ")[0]  # the public run failed: the only one
    with psycopg2.connect(psycopg2_dsn(cli_env["DATABASE_URL"])) as conn, conn.cursor() as cur:
        cur.execute("SELECT status, county FROM pipeline_runs WHERE run_id = %s AND asset = 'sales'", (run_id,))
        assert cur.fetchone() == ("failure", "king_wa")
    conn.close()


def test_demo_gives_the_loaded_tables_planner_statistics(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`reos demo` analyzes what it loaded: the API's first queries must not wait for autovacuum."""
    from realestate_assets.cli import _analyze

    monkeypatch.setenv("REOS_ENV", "local")
    monkeypatch.setenv("DATABASE_URL", database_url)
    dsn = database_url.replace("postgresql+psycopg2", "postgresql")
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS analyze_probe; CREATE TABLE analyze_probe AS "
                    "SELECT g AS id FROM generate_series(1, 500) g")
        cur.execute("SELECT reltuples FROM pg_class WHERE relname = 'analyze_probe'")
        assert cur.fetchone()[0] == -1  # never analyzed
    _analyze()
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT reltuples FROM pg_class WHERE relname = 'analyze_probe'")
        assert cur.fetchone()[0] == 500
        cur.execute("DROP TABLE analyze_probe")


def test_make_dev_commands_are_split_on_the_separator() -> None:
    assert split_commands(["dagster", "dev", "--and", "uvicorn", "app:app"]) == [["dagster", "dev"],
                                                                                ["uvicorn", "app:app"]]
    with pytest.raises(ValueError, match="usage"):
        split_commands(["dagster", "--and"])


def test_make_dev_stops_the_api_when_dagster_ends(tmp_path: Path) -> None:
    """One service ending by itself (a crash, a port in use) stops the other: `make dev` never
    stays half up. The supervisor exits with the code of the one that ended first."""
    pid_file = tmp_path / "pid"
    sleeper = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(300)"
    crasher = ("import os, sys, time\n"
               f"while not os.path.exists({str(pid_file)!r}): time.sleep(0.05)\n"
               "sys.exit(3)")
    supervisor = subprocess.run([sys.executable, "-m", "realestate_assets.devserver", sys.executable, "-c", sleeper,
                                 "--and", sys.executable, "-c", crasher],
                                cwd=repo_root(), env={**os.environ, "PYTHONPATH": str(repo_root())}, timeout=120)
    assert supervisor.returncode == 3
    assert not _alive(int(pid_file.read_text()))


def test_make_dev_supervisor_stops_every_process_even_deaf_ones(tmp_path: Path) -> None:
    """`make dev` runs `dagster dev` under realestate_assets.devserver: one SIGTERM stops the whole
    tree, and a process that ignores it (as a slow interpreter teardown would look) is killed after
    the grace period, never left behind."""
    pids = tmp_path / "pids"
    deaf = ("import os, signal, subprocess, sys, time; "
            "[signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)]; "
            "kid = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)']); "
            f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{kid.pid}}'); time.sleep(300)")
    supervisor = subprocess.Popen([sys.executable, "-m", "realestate_assets.devserver", sys.executable, "-c", deaf],
                                  cwd=repo_root(), env={**os.environ, "PYTHONPATH": str(repo_root())})
    try:
        for _ in range(300):
            if pids.exists() and len(pids.read_text().split()) == 2:
                break
            time.sleep(0.1)
        tree = [int(p) for p in pids.read_text().split()]
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=60) != 0
        assert not [pid for pid in tree if _alive(pid)]
    finally:
        supervisor.kill()
