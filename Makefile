# Set-up, lint, type-check and test. `make test` works on a fresh clone (idempotent).
SHELL := /bin/bash
.DEFAULT_GOAL := test

PYTHON ?= python3
VENV := .venv
OFFICIAL_VENV := .venv-official
REFERENCE := .reference
REAL_SERVER := $(REFERENCE)/node_modules/@restatedev/restate-server-linux-x64/bin/restate-server
REAL_SERVER_VERSION := 1.7.12
OFFICIAL_CLI := $(REFERENCE)/node_modules/@restatedev/restate-linux-x64/bin/restate
OFFICIAL_CLI_VERSION := 1.7.12
OFFICIAL_SDK := restate-sdk==1.3.0
# The official TypeScript SDK (pinned in its package-lock.json) for the SDK matrix's TS services.
TS_SERVICES := tests/services/ts
TS_SDK := $(TS_SERVICES)/node_modules/.installed

# Only the paths that exist (the code base grows while these targets are in use).
LINT_PATHS := $(wildcard restate cli tests bench examples)
MYPY_PATHS := $(wildcard restate/cluster restate/kafka restate/protocol restate/storage restate/partition restate/introspection restate/invoker restate/ipc restate/actors restate/admin restate/ingress restate/ids.py restate/durations.py restate/serde_json_errors.py restate/wire.py restate/schema.py restate/config.py restate/metrics.py restate/stage_trace.py restate/tracing restate/dashboard cli restate/sdk restate/__init__.py)
PYTEST_ARGS ?=

.PHONY: test setup lint typecheck pytest up clean-setup wrk etcd chromium

## Set-up ----------------------------------------------------------------------------------

$(VENV)/.installed: pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[test]' --config-settings editable_mode=compat  # a plain .pth path: no import hook on every start
	touch $@

$(OFFICIAL_VENV)/.installed:
	test -x $(OFFICIAL_VENV)/bin/python || $(PYTHON) -m venv $(OFFICIAL_VENV)
	$(OFFICIAL_VENV)/bin/python -m pip install --quiet '$(OFFICIAL_SDK)' hypercorn
	touch $@

$(REAL_SERVER):
	SCARF_ANALYTICS=false npm install --prefix $(REFERENCE) --no-audit --no-fund --ignore-scripts @restatedev/restate-server@$(REAL_SERVER_VERSION)
	test -x $@

# The official CLI, to check that it works against our admin API (tests/integration/test_official_cli.py).
$(OFFICIAL_CLI):
	SCARF_ANALYTICS=false npm install --prefix $(REFERENCE) --no-audit --no-fund --ignore-scripts @restatedev/restate@$(OFFICIAL_CLI_VERSION)
	test -x $@

# `npm ci`: exactly the lock file's @restatedev/restate-sdk 1.17.2 and tsx, run by the machine's Node 20.
$(TS_SDK): $(TS_SERVICES)/package.json $(TS_SERVICES)/package-lock.json
	SCARF_ANALYTICS=false npm ci --prefix $(TS_SERVICES) --no-audit --no-fund --ignore-scripts
	touch $@

# wrk (Debian's package) drives the benchmark's throughput runs; its smoke test runs in `make test`.
wrk:
	@command -v wrk >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get install -y wrk \
	  || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y wrk; }; }
	@command -v wrk >/dev/null || { echo "wrk is required: apt-get install -y wrk" >&2; exit 1; }

# etcd (Debian's etcd-server 3.4) is the replicated log of cluster mode; tests/cluster start a 3-member
# cluster of it on loopback ports (tests/support/etcd.py). Only the binary is used: no service is started.
etcd:
	@command -v etcd >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get install -y etcd-server \
	  || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y etcd-server; }; }
	@command -v etcd >/dev/null || { echo "etcd is required: apt-get install -y etcd-server" >&2; exit 1; }

# Debian's chromium + chromium-driver for the web UI's browser tests (tests/browser): Playwright drives
# /usr/bin/chromium, so no browser is ever downloaded (`playwright install` is never run).
chromium:
	@{ command -v chromium && command -v chromedriver; } >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver \
	  || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver; }; }
	@test -x /usr/bin/chromium || { echo "chromium is required: apt-get install -y chromium chromium-driver" >&2; exit 1; }

setup: $(VENV)/.installed $(OFFICIAL_VENV)/.installed $(REAL_SERVER) $(OFFICIAL_CLI) $(TS_SDK) wrk etcd chromium

## Checks ----------------------------------------------------------------------------------

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check $(LINT_PATHS)

typecheck: $(VENV)/.installed
	@if [ -z "$(strip $(MYPY_PATHS))" ]; then echo "mypy: none of the core paths exist yet"; \
	else echo "$(VENV)/bin/mypy --ignore-missing-imports $(MYPY_PATHS)"; \
	  $(VENV)/bin/mypy --ignore-missing-imports $(MYPY_PATHS); fi

pytest: setup
	@rc=0; $(VENV)/bin/python -m pytest $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "ERROR: pytest collected no tests (exit code 5): treated as a failure" >&2; exit 1; fi; \
	exit $$rc

test: setup lint typecheck pytest

# The web UI's browser tests, then the README's screenshots (docs/ui/) from their artifacts (tests/artifacts/ui/).
UI_SHOTS := overview invocations invocation-non-determinism invocation-call-chain state node
.PHONY: ui-screenshots
ui-screenshots: setup
	$(VENV)/bin/python -m pytest tests/browser -q
	mkdir -p docs/ui && for s in $(UI_SHOTS); do cp tests/artifacts/ui/$$s.png docs/ui/$$s.png; done

## Running ---------------------------------------------------------------------------------

up: $(VENV)/.installed
	$(VENV)/bin/restate up

clean-setup:
	rm -f $(VENV)/.installed $(OFFICIAL_VENV)/.installed $(TS_SDK)

## Benchmarks ------------------------------------------------------------------------------

# Ours vs the real server 1.7.12, alternating rounds (see README.md, Benchmarks). Writes
# bench/results/ (gitignored), bench/RESULTS.md and the README tables. Needs `wrk`
# (apt-get install -y wrk). Two sections: main (~16 min) and scale (bench/scale.py, issue 16);
# BENCH_ARGS='--only main' or '--only scale' runs one; BENCH_ARGS='--quick' for a smoke run.
BENCH_ARGS ?=

# The cost of tracing on the 3-step workload: tracing off vs on, same run (bench/tracing.py).
# The scale section's SQL (b), timer restart (c) and eager state (f) figures, ours vs the real server.
.PHONY: bench-scale-sql
bench-scale-sql: setup
	$(VENV)/bin/python -m bench.scale_sql $(BENCH_SCALE_SQL_ARGS)

.PHONY: bench-tracing
bench-tracing: setup
	$(VENV)/bin/python -m bench.tracing $(BENCH_TRACING_ARGS)

# The invoker under N in-flight invocations, SIGKILL and restart, ours vs the real server (bench/scale_invoker.py):
# submit rate, connections to the deployment, time to the first new call, drain. BENCH_SCALE_ARGS='--bidi'.
.PHONY: bench-scale-invoker
bench-scale-invoker: setup
	$(VENV)/bin/python -m bench.scale_invoker $(BENCH_SCALE_ARGS)

.PHONY: bench
bench: setup
	@command -v wrk >/dev/null || { echo "make bench needs wrk: apt-get install -y wrk" >&2; exit 1; }
	$(VENV)/bin/python -m bench --update-readme $(BENCH_ARGS)
