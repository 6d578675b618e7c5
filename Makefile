# Quick start: `make demo` and `make test` on a fresh machine with Python 3.10+.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: help demo test test-fast bench bench-quick docs clean

help:
	@echo "make demo         compare every optimizer on load_digits (creates .venv)"
	@echo "make test         the whole test suite, slow tests included (about 10 min)"
	@echo "make test-fast    the tests not marked slow"
	@echo "make bench        speed against scikit-learn's MLP (about 4 min)"
	@echo "make bench-quick  the same table, fewer repetitions (about 2 min)"
	@echo "make docs         the documentation, into docs/_build/html"
	@echo "make clean        remove .venv and everything generated"

$(VENV)/.stamp-core: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[examples]"
	touch $@

$(VENV)/.stamp-test: $(VENV)/.stamp-core
	$(PY) -m pip install -q -e ".[test,examples]"
	touch $@

$(VENV)/.stamp-docs: $(VENV)/.stamp-test
	$(PY) -m pip install -q -e ".[docs]"
	touch $@

$(VENV)/.stamp-bench: $(VENV)/.stamp-core
	$(PY) -m pip install -q -e ".[bench]"
	touch $@

demo: $(VENV)/.stamp-core
	$(PY) -m skopt_nn compare --out skopt_nn_report

test: $(VENV)/.stamp-test
	$(PY) -m pytest -q --doctest-modules skopt_nn tests

test-fast: $(VENV)/.stamp-test
	$(PY) -m pytest -q -m "not slow" --doctest-modules skopt_nn tests

bench: $(VENV)/.stamp-bench
	$(PY) benchmarks/run.py

bench-quick: $(VENV)/.stamp-bench
	$(PY) benchmarks/run.py --quick

docs: $(VENV)/.stamp-docs
	$(PY) -m sphinx -W --keep-going -b html docs docs/_build/html
	@echo "Documentation: $(CURDIR)/docs/_build/html/index.html"

clean:
	rm -rf $(VENV) docs/_build docs/auto_examples docs/generated docs/sg_execution_times.rst skopt_nn_report .pytest_cache skopt_nn.egg-info
