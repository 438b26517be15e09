# Entry points. `make demo` and `make test` are the two commands in README.md.
PY := .venv/bin/python

.PHONY: setup demo test lint validate bench clean

setup:
	@bash scripts/setup.sh

demo: setup
	$(PY) -m spinefit demo --out reports/demo.html

test: setup
	@bash scripts/ensure_chromium.sh
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest

validate: setup
	$(PY) -m pytest -m slow

bench: setup
	$(PY) benchmarks/run_all.py

clean:
	rm -rf .venv .pytest_cache
