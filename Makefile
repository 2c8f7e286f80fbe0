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
# The local instance's dagster.yaml (at the root, as the design card has it), copied into DAGSTER_HOME.
LOCAL_INSTANCE := dagster.yaml

.PHONY: install system-deps demo dev test lint bench clean

$(BIN)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# requirements.lock pins every package (the Dagster 1.13.27 / 0.29.27 set among them).
	$(BIN)/pip install -q -c requirements.lock -e '.[dev]'
	touch $@

install: $(BIN)/.installed

# Debian packages: Chromium for Playwright listing pages, poppler for PDF checks,
# fonts and pango for WeasyPrint. Installed only when missing and when we are root.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v pdftoppm >/dev/null || missing="$$missing poppler-utils"; \
	ldconfig -p | grep -q libpango-1.0 || missing="$$missing libpango-1.0-0 libpangoft2-1.0-0"; \
	ldconfig -p | grep -q libharfbuzz-subset || missing="$$missing libharfbuzz-subset0"; \
	fc-list 2>/dev/null | grep -qi dejavu || missing="$$missing fonts-dejavu-core"; \
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

# Ctrl-C / SIGTERM stop everything within seconds, no process left behind: realestate_assets/devserver.py
# passes the signal once to all of dagster dev's processes and kills what is left after 6 s (busy
# machines spend that long in interpreter teardown); `exec` leaves no shell in between. The code
# server waits at most 2 s for in-flight sensor calls (Dagster's default: its gRPC timeout). The
# filter hides Dagster's advice to use `dg dev` (the separate dagster-dg-cli package). It runs from
# DAGSTER_HOME: from the root, `dagster dev` would warn that the root dagster.yaml (the template) is
# not the instance's. Migrating first: the sensors query the warehouse from their first tick.
dev: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/reos db upgrade
	cd $(DAGSTER_HOME) && exec env DAGSTER_GRPC_SHUTDOWN_GRACE_PERIOD=2 \
	  PYTHONWARNINGS="ignore:Function \`dev_command\` is superseded" \
	  $(CURDIR)/$(BIN)/python -m realestate_assets.devserver \
	  $(CURDIR)/$(BIN)/dagster dev -w $(CURDIR)/workspace.yaml -h 127.0.0.1 -p $(DAGSTER_PORT)

lint: install
	$(BIN)/ruff check .

test: install system-deps lint
	$(BIN)/pytest -q -p no:cacheprovider

bench: install system-deps $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python bench/run.py

# Stop the embedded PostgreSQL first (a server whose directory is deleted keeps running);
# nothing to stop (no postmaster.pid) is fine.
clean:
	@if [ -f "$(REOS_STATE_DIR)/pg/postmaster.pid" ]; then \
	  $(BIN)/python -c "from realestate_assets.db.embedded import stop_embedded; stop_embedded() and print('stopped the embedded PostgreSQL')"; \
	fi
	rm -rf $(REOS_STATE_DIR)
