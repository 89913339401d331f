# Every target creates .venv when it is missing; `make test` goes from a fresh clone to a green suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup test app bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

test: setup
	$(PY) -m pytest -q -n 2 $(PYTEST_ARGS)

app: setup
	$(PY) app.py

bench: setup
	$(PY) -m srapp.bench

clean:
	rm -rf $(VENV) build *.egg-info
