# Real Estate OS — the two commands: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export REOS_STATE_DIR ?= $(CURDIR)/.reos
# The repository's .env (read by the `dagster` CLI) places DAGSTER_HOME under ${PWD}: make it this
# directory even under `make -C`.
export PWD := $(CURDIR)
export DAGSTER_HOME ?= $(REOS_STATE_DIR)/dagster_home
COUNTY ?= king_wa
DAGSTER_PORT ?= 3000
API_PORT ?= 8000
# Vite's dev server (hot reload; /api proxied to API_PORT). The built app is also at API_PORT's /.
DASHBOARD_PORT ?= 5173
export API_PORT
# The local instance's dagster.yaml (at the root, as the design card has it), copied into DAGSTER_HOME.
LOCAL_INSTANCE := dagster.yaml

.PHONY: install system-deps demo dev test lint bench chaos clean api-client dashboard-test column-schemas

$(BIN)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	# requirements.lock pins every package (the Dagster 1.13.27 / 0.29.27 set among them) and uv
	# itself. uv installs that set in ~15 s where pip took ~2 minutes (the same versions: both
	# resolve against the lock). --compile-bytecode writes the packages' .pyc files once, here: uv
	# does not by default, and where PYTHONDONTWRITEBYTECODE is set (this machine, CI) every process
	# compiled every module it imported, each time — importing the definitions took 11–13 CPU s instead
	# of ~5, in every test worker, step process and `reos` command.
	$(BIN)/pip install -q -c requirements.lock uv
	$(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python -c requirements.lock -e '.[dev]'
	touch $@

install: $(BIN)/.installed dashboard/dist/index.html

# The dashboard (dashboard/, React + Vite): npm ci when the lock changed, a build when any source is
# newer than the last one, so a re-run of `make install` costs nothing. Without npm it is skipped
# (the API then serves no app at /) rather than failing the Python install.
DASHBOARD_SOURCES := $(shell find dashboard/src dashboard/public -type f 2>/dev/null) \
	$(wildcard dashboard/*.json dashboard/*.ts dashboard/*.js dashboard/*.cjs dashboard/index.html)
dashboard/node_modules/.package-lock.json: dashboard/package-lock.json
	@if command -v npm >/dev/null; then cd dashboard && npm ci --no-audit --no-fund; \
	else echo "warning: npm not found; the dashboard is not built"; fi

dashboard/dist/index.html: dashboard/node_modules/.package-lock.json $(DASHBOARD_SOURCES)
	@if [ -d dashboard/node_modules ]; then cd dashboard && npm run build; fi

# The typed client's source: the API's OpenAPI document (tests/api/test_openapi_dump.py fails when stale).
api-client: $(BIN)/.installed
	$(BIN)/python -m realestate_assets.api.openapi_dump
	cd dashboard && npm run gen

# Vitest, for the logic that runs in the browser (about 5 s); skipped without npm.
dashboard-test: dashboard/node_modules/.package-lock.json
	@if [ -d dashboard/node_modules ]; then cd dashboard && npm test; fi

# Debian packages: Chromium for Playwright listing pages, poppler for PDF checks,
# fonts and pango for WeasyPrint, wrk for bench/bench_api.py. Installed only when missing and when we are root.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v pdftoppm >/dev/null || missing="$$missing poppler-utils"; \
	ldconfig -p | grep -q libpango-1.0 || missing="$$missing libpango-1.0-0 libpangoft2-1.0-0"; \
	ldconfig -p | grep -q libharfbuzz-subset || missing="$$missing libharfbuzz-subset0"; \
	fc-list 2>/dev/null | grep -qi dejavu || missing="$$missing fonts-dejavu-core"; \
	command -v wrk >/dev/null || missing="$$missing wrk"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing) >/dev/null \
	      || echo "warning: could not install$$missing; the tests that need them will skip"; \
	  else echo "warning: missing Debian packages:$$missing (run as root to install)"; fi; \
	fi

$(DAGSTER_HOME)/dagster.yaml: $(LOCAL_INSTANCE)
	mkdir -p $(DAGSTER_HOME)
	cp $(LOCAL_INSTANCE) $@

demo: install system-deps $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/reos demo --county $(COUNTY)

# The Dagster UI on DAGSTER_PORT, the API on API_PORT (serving the built dashboard at /) and Vite's
# dev server for the dashboard on DASHBOARD_PORT (hot reload, API paths proxied), together.
# Ctrl-C / SIGTERM stop everything within seconds, no process left behind: realestate_assets/devserver.py
# passes the signal once to all of dagster dev's processes and kills what is left after 6 s (busy
# machines spend that long in interpreter teardown); `exec` leaves no shell in between. The code
# server waits at most 2 s for in-flight sensor calls (Dagster's default: its gRPC timeout). The
# filter hides Dagster's advice to use `dg dev` (the separate dagster-dg-cli package). It runs from
# DAGSTER_HOME: from the root, `dagster dev` would warn that the root dagster.yaml (the template) is
# not the instance's. Migrating first: the sensors query the warehouse from their first tick.
# Only with the dashboard's packages installed: a missing npm must not stop the other two.
DASHBOARD_DEV = $(if $(wildcard dashboard/node_modules),--and npm --prefix $(CURDIR)/dashboard run dev -- \
	--port $(DASHBOARD_PORT) --strictPort)
dev: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/reos db upgrade
	cd $(DAGSTER_HOME) && exec env DAGSTER_GRPC_SHUTDOWN_GRACE_PERIOD=2 \
	  PYTHONWARNINGS="ignore:Function \`dev_command\` is superseded" \
	  $(CURDIR)/$(BIN)/python -m realestate_assets.devserver \
	  $(CURDIR)/$(BIN)/dagster dev -w $(CURDIR)/workspace.yaml -h 127.0.0.1 -p $(DAGSTER_PORT) \
	  --and env REOS_DAGSTER_URL=http://127.0.0.1:$(DAGSTER_PORT) \
	  $(CURDIR)/$(BIN)/python -m realestate_assets.api.serve --host 127.0.0.1 --port $(API_PORT) \
	  $(DASHBOARD_DEV)

lint: install
	$(BIN)/ruff check .

# The tests' scratch files on tmpfs when the machine has one: Qdrant local mode and Dagster's SQLite
# storage commit once per point or event, ~9 ms a commit (fsync) on this machine's disk and
# ~0.04 ms on /dev/shm. Pytest keeps only its last three scratch directories there.
TEST_TMPDIR := $(shell [ -d /dev/shm ] && [ -w /dev/shm ] && echo /dev/shm || echo $${TMPDIR:-/tmp})

# pytest-xdist workers: one more than the cores, at most 4 (`make test TEST_WORKERS=N` to choose). A
# worker often waits (for PostgreSQL, a browser, a step's subprocess), and a third worker on a
# 2-core machine took the suite from 786-799 s to 656-774 s (docs/testing.md, stop 50). At most 4:
# every worker holds its own connection pools on the one PostgreSQL server (100 connections by
# default). `worksteal` is the `load` distribution (tests, not files, go to workers: the suite's
# modules assume it; with `loadfile` some read another module's king_wa rows in a shared worker
# database) plus an idle worker taking tests queued for a busy one, so a long test at the end of one
# queue does not leave the other workers idle.
# PYTHONDONTWRITEBYTECODE emptied for the run (this machine and CI set it): the first worker to import
# a test module or one of ours writes its bytecode (pytest's assert-rewritten modules included) and
# the others read it, where each worker compiled all of them again (collecting the suite: 17.1 CPU s
# without, 10.2 with; stop 50). The .pyc files go to __pycache__ directories, which git ignores.
TEST_WORKERS ?= $(shell n=$$(( $$(nproc) + 1 )); echo $$(( n < 4 ? n : 4 )))
test: install system-deps lint dashboard-test
	TMPDIR=$(TEST_TMPDIR) PYTHONDONTWRITEBYTECODE= $(BIN)/pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist worksteal

# After a migration that changes a table asset's columns or their comments: rewrite the column
# schemas the asset definitions carry (realestate_assets/db/column_schemas.json) from a scratch
# database at the head; tests/test_column_schemas.py fails until then.
column-schemas: install
	$(BIN)/python -m tests.write_column_schemas

# SCALE=10x or SCALE=25x: bench_scale.py and bench_rerun.py (issue 17) also run 10× (and 25×) the King County file.
bench: install system-deps $(DAGSTER_HOME)/dagster.yaml
	BENCH_SCALE=$(SCALE) $(BIN)/python bench/run.py

# Issue #14's harness (not part of `make test`): SIGKILLed runs, hostile input, failing sources,
# two tenants; prints figures and PASS/FAIL, exits 1 on any loss, duplicate, re-send or crash.
# CHAOS_ARGS="--part crash --quick" runs one part, fewer points.
chaos: install system-deps $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python bench/chaos/run.py $(CHAOS_ARGS)

# Stop the embedded PostgreSQL first (a server whose directory is deleted keeps running);
# nothing to stop (no postmaster.pid) is fine.
clean:
	@if [ -f "$(REOS_STATE_DIR)/pg/postmaster.pid" ]; then \
	  $(BIN)/python -c "from realestate_assets.db.embedded import stop_embedded; stop_embedded() and print('stopped the embedded PostgreSQL')"; \
	fi
	rm -rf $(REOS_STATE_DIR)
