# Every target creates .venv when it is missing; `make test` goes from a fresh clone to a green suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup browser test app bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# The browser test drives Debian's chromium through Playwright (no browser download needed).
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
		(apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || \
		echo "could not install chromium: run 'apt-get install chromium' as root for the browser test"

test: setup browser
	$(PY) -m pytest -q -n 2 $(PYTEST_ARGS)

app: setup
	$(PY) app.py

# The benchmark scripts of benchmarks/ that print this machine's figures (docs/PERFORMANCE.md), in turn.
BENCHMARKS := memory bounded inference precision backends foreign_models

bench: setup
	for name in $(BENCHMARKS); do $(PY) benchmarks/$$name.py || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info
