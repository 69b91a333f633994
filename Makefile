# Chordial's front door. `make demo` runs the main job, `make test` runs every check.
# Both set up what they need: uv, the Python environment (and later the web build and chromium).

SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
UV := python3 -m uv
RUN := $(UV) run --locked

.PHONY: setup demo demo-ring test lint typecheck proto proto-check ts-types ts-types-check bench experiments clean web web-test chromium

setup:
	@python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet --disable-pip-version-check uv
	@$(UV) sync --locked --quiet

# The conductor with a default virtual simulation running; open the URL it prints.
demo: setup web
	$(RUN) chordial conductor --start

# The command-line tour: 8 node processes, a workload, the overlay (no browser needed).
demo-ring: setup
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

# web/src/protocol.ts is generated from the conductor's pydantic models.
ts-types:
	$(RUN) python scripts/gen_ts_types.py

ts-types-check: setup
	$(RUN) python scripts/gen_ts_types.py --check

test: lint typecheck proto-check ts-types-check web web-test chromium
	$(RUN) pytest -q

# The web client (web/): npm ci when the lock file changed, vite build when a source did.
WEB_SOURCES := $(shell find web/src web/index.html web/vite.config.ts web/tsconfig.json -type f 2>/dev/null)

web: web/dist/index.html

web/node_modules/.installed: web/package.json web/package-lock.json
	@command -v npm >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq nodejs npm)
	cd web && npm ci --no-audit --no-fund
	@touch $@

web/dist/index.html: web/node_modules/.installed $(WEB_SOURCES)
	cd web && npm run build

web-test: web/node_modules/.installed
	cd web && npm test

# Debian's chromium for the browser end-to-end tests (tests/e2e).
chromium:
	@test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium)

bench: setup
	$(RUN) python bench/node_ops.py
	$(RUN) python bench/sim_scale.py
	$(RUN) python bench/replication.py
	$(RUN) python bench/ceiling.py
	$(RUN) python bench/peers.py
	$(RUN) python bench/scale_live.py

experiments: setup
	for name in path-length load-balance mass-failure churn; do \
		$(RUN) chordial sim experiment $$name --scale paper --out results || exit 1; \
	done

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache
