# Two commands on a fresh machine (Python >= 3.11 with venv and pip):
#   make demo   installs into .venv if needed, runs the bundled scenarios, compares them
#   make test   installs the dev extras and runs lint and the whole test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_SCENARIOS := baseline ship_from_store click_and_collect_push unified_inventory \
	delayed_visibility alternative_store optimized_allocation black_friday courier_shortage \
	ortools_routing

.PHONY: install install-dev demo test lint bench clean

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "omnifulfil needs Python >= 3.11 (set PYTHON=python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# Three simulated days keep the demo to a few minutes; `make demo DEMO_DAYS=7` for a week.
DEMO_DAYS ?= 3

demo: install
	$(VENV)/bin/omnifulfil compare $(DEMO_SCENARIOS:%=scenarios/%.yaml) --set horizon_days=$(DEMO_DAYS) --out runs

lint: install-dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

test: install-dev
	$(PY) -m ruff check .
	$(PY) -m pytest

bench: install-dev
	$(PY) bench/sim_throughput.py

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
