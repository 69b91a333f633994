# Chordial's front door. `make demo` runs the main job, `make test` runs every check.
# Both set up what they need: uv, the Python environment (and later the web build and chromium).

SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
UV := python3 -m uv
RUN := $(UV) run --locked

.PHONY: setup demo test lint typecheck proto proto-check bench experiments clean

setup:
	@python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet --disable-pip-version-check uv
	@$(UV) sync --locked --quiet

demo: setup
	$(RUN) python -m chordial.demo

lint: setup
	$(RUN) ruff check src tests scripts bench
	$(RUN) ruff format --check src tests scripts bench

typecheck: setup
	$(RUN) mypy

proto:
	$(RUN) python scripts/gen_proto.py

proto-check: setup
	$(RUN) python scripts/gen_proto.py --check

test: lint typecheck proto-check
	$(RUN) pytest -q

bench: setup
	$(RUN) python bench/node_ops.py
	$(RUN) python bench/sim_scale.py
	$(RUN) python bench/replication.py

experiments: setup
	for name in path-length load-balance mass-failure churn; do \
		$(RUN) chordial sim experiment $$name --scale paper --out results || exit 1; \
	done

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache
