# Two commands do everything: `make run` (the main job) and `make test` (the whole suite).
# Both create .venv on first use; scripts/setup_venv.sh explains what it installs.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.nfv-installed

.PHONY: run test lint bench docs clean

$(STAMP): pyproject.toml scripts/setup_venv.sh
	PYTHON=$(PYTHON) bash scripts/setup_venv.sh $(VENV)
	@touch $(STAMP)

## Short VMC run of the default system (4x4 J1-J2, J2 = 0.5). Pass options with ARGS="...".
run: $(STAMP)
	$(PY) -m netket_factored_vit run $(ARGS)

## The whole test suite, slow and MPI tests included, one test file per core (pytest-xdist).
## Extra pytest options with PYTEST_ARGS="..." (PYTEST_ARGS="-n 0": one process).
test: $(STAMP)
	$(PY) -m pytest -ra -n auto --dist loadfile $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

bench: $(STAMP)
	for b in bench/bench_*.py; do $(PY) $$b || exit 1; done

## The documentation site in docs/_build/html, warnings as errors. Installs the docs extra;
## executes the tutorials (about 3 minutes on 2 cores; cached in docs/_build/.jupyter_cache).
docs: $(STAMP)
	$(VENV)/bin/pip install -q -e ".[docs]"
	$(VENV)/bin/sphinx-build -W --keep-going -b html docs docs/_build/html

clean:
	rm -rf $(VENV) docs/_build .pytest_cache
