# Real Estate OS — the two commands: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export REOS_STATE_DIR ?= $(CURDIR)/.reos
export DAGSTER_HOME ?= $(REOS_STATE_DIR)/dagster_home
COUNTY ?= king_wa

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
	ldconfig -p | grep -q libpango-1.0 || missing="$$missing libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0"; \
	fc-list 2>/dev/null | grep -qi dejavu || missing="$$missing fonts-dejavu-core"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing) >/dev/null \
	      || echo "warning: could not install$$missing; the tests that need them will skip"; \
	  else echo "warning: missing Debian packages:$$missing (run as root to install)"; fi; \
	fi

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

demo: install system-deps $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/reos demo --county $(COUNTY)

dev: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

lint: install
	$(BIN)/ruff check .

test: install system-deps lint
	$(BIN)/pytest -q -p no:cacheprovider

bench: install system-deps $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python bench/run.py

clean:
	-$(BIN)/python -c "from realestate_assets.db.embedded import stop_embedded; stop_embedded()"
	rm -rf $(REOS_STATE_DIR)
