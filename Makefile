# Two commands on a fresh machine: `make run` and `make test`. Everything they need is installed
# by them: a Python virtualenv with the AWS emulator (moto), cfn-lint and cargo-lambda; Rust
# crates come from the registry.
SHELL := bash
.DEFAULT_GOAL := help

VENV := .venv
STATE := .local
LOCAL_AWS_PORT ?= 4566
LOCAL_API_PORT ?= 9000
TENANT ?= demo
# Options of `make bench`, e.g. BENCH_ARGS="--skip-rss --e2e-rows 1000000" (see `bench --help`).
BENCH_ARGS ?=

# The local stack takes any credentials; real ones are never needed here.
export AWS_ACCESS_KEY_ID ?= test
export AWS_SECRET_ACCESS_KEY ?= test
export AWS_REGION ?= us-east-1
export LOCAL_API_PORT
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

LOCAL_ENV := AWS_ENDPOINT_URL=http://127.0.0.1:$(LOCAL_AWS_PORT)
LOCAL_BIN := target/debug/local
API_URL := http://127.0.0.1:$(LOCAL_API_PORT)
SAMPLE := events/data/contacts.csv
# The local host's JSON log lines, of `make run` and `make up`: a file, not the terminal, where
# they would interleave with importctl's progress bars.
LOCAL_LOG := $(STATE)/local.log
# The local host `make up` started is still running: its pid, as the `local` binary (a host
# killed by SIGKILL leaves its pid file behind, and the pid may be another process's by now).
LOCAL_UP = [ -f $(STATE)/local.pid ] && [ "$$(ps -o comm= -p $$(cat $(STATE)/local.pid) 2>/dev/null)" = local ]

.PHONY: help deps sam-deps build run up down token test quick-lint lint fmt bench sam-check api-fuzz fuzz crash-test test-large

help:
	@echo "make run    - the whole service locally, a sample import by importctl; serves :$(LOCAL_API_PORT) until Ctrl-C (log: $(LOCAL_LOG))"
	@echo "make up     - the same in the background; make down stops it"
	@echo "make test   - every test and the quick lints (fmt, cfn-lint, import cycles), on emulators of its own"
	@echo "make lint   - the quick lints and clippy (CI runs both)"
	@echo "make crash-test - SIGKILLs of the local host during a 50,000-row import and a 5,000-record overwrite and revert, two hosts on one queue (slow; not in make test)"
	@echo "make test-large - a 2 GiB file through importctl import as a multipart upload, and 1 GB prevalidated 2 s at a time, exact stats (slow; not in make test)"
	@echo "make api-fuzz - schemathesis, 100 requests per operation with each of 3 seeds, fails on any 5xx (slow; not in make test)"
	@echo "make fuzz   - every reader of user bytes under libFuzzer, FUZZ_SECONDS (default 60) each; fails on any crash (slow; not in make test)"
	@echo "make token TENANT=acme - a local bearer token"
	@echo "make sam-deps - SAM (aws-sam-cli) into .venv, for make sam-check and deploys"
	@echo "make sam-check - sam validate --lint, sam build of every function with cargo-lambda, sam package to the emulator"
	@echo "make bench  - throughput as ratios, peak RSS over 1 GB, a 200k-row import end to end (target/bench/results.json)"

$(VENV)/.installed: requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

deps: $(VENV)/.installed

$(VENV)/.sam-installed: requirements-sam.txt $(VENV)/.installed
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-sam.txt
	touch $@

sam-deps: $(VENV)/.sam-installed

build: deps
	cargo build --workspace --bins

run: build
	@if $(LOCAL_UP); then \
	  echo "make up is serving on $(API_URL): use it, or make down first"; exit 1; fi
	@scripts/emulator.sh start $(LOCAL_AWS_PORT) $(STATE)
	@trap 'kill $$server 2>/dev/null; scripts/emulator.sh stop $(STATE)' EXIT; \
	  $(LOCAL_ENV) $(LOCAL_BIN) serve --port $(LOCAL_API_PORT) >$(LOCAL_LOG) 2>&1 & server=$$!; \
	  echo "the local host's log: $(LOCAL_LOG) (tail -f it)"; \
	  scripts/sample-import.sh $(API_URL) $(TENANT) $(SAMPLE) $(STATE)/sample-errors.csv $$server $(LOCAL_LOG) || true; \
	  kill -0 $$server 2>/dev/null || exit 1; \
	  echo "serving on $(API_URL) until Ctrl-C (the local host's log: $(LOCAL_LOG))"; wait $$server

up: build
	@scripts/emulator.sh start $(LOCAL_AWS_PORT) $(STATE)
	@if $(LOCAL_UP); then \
	  echo "already up on http://127.0.0.1:$(LOCAL_API_PORT)"; exit 0; fi; \
	$(LOCAL_ENV) nohup $(LOCAL_BIN) serve --port $(LOCAL_API_PORT) \
	  >$(LOCAL_LOG) 2>&1 & echo $$! >$(STATE)/local.pid; \
	echo "the local host's log: $(LOCAL_LOG) (tail -f it)"; \
	scripts/sample-import.sh $(API_URL) $(TENANT) $(SAMPLE) $(STATE)/sample-errors.csv \
	  $$(cat $(STATE)/local.pid) $(LOCAL_LOG)

down:
	@if [ -f $(STATE)/local.pid ]; then kill $$(cat $(STATE)/local.pid) 2>/dev/null || true; rm -f $(STATE)/local.pid; fi
	@scripts/emulator.sh stop $(STATE)
	@echo "stopped"

# The built binary, not `cargo run`: quick and silent once `make up` or `make run` has built the
# workspace's bins (building importctl alone unifies features differently and rebuilds its
# dependencies, half a minute).
token:
	@cargo build --quiet --workspace --bins
	@target/debug/importctl token --tenant $(TENANT)

# The checks that take seconds: formatting, the template, the import graph.
quick-lint: deps
	cargo fmt --all -- --check
	cfn-lint template.yaml
	python scripts/template-api-check.py
	python3 scripts/import-cycles.py .

# Those and clippy, which compiles every crate a second time (in check mode): minutes on a
# fresh clone, so it is a target of its own; CI runs it.
lint: quick-lint
	cargo clippy --workspace --all-targets -- -D warnings

# deps and quick-lint run inside scripts/test.sh, beside the build, which needs neither.
test:
	scripts/test.sh

# The API against openapi.yaml as `make test` checks it, with more generated requests: 100 per
# operation with each of three seeds, on an emulator of its own. Too slow for `make test` or CI.
API_FUZZ_SEEDS ?= 1 2 3
api-fuzz: deps
	cargo build -p local -p importctl
	@state=$$(mktemp -d); trap 'scripts/emulator.sh stop "$$state"; rm -rf "$$state"' EXIT; \
	  port=$$(scripts/emulator.sh free-port); scripts/emulator.sh start $$port "$$state" && \
	  AWS_ENDPOINT_URL=http://127.0.0.1:$$port API_CHECK_EXAMPLES=100 API_CHECK_SEEDS="$(API_FUZZ_SEEDS)" \
	  scripts/api-check.sh

# The readers of user bytes under libFuzzer (cargo-fuzz, installed into .tools/ when missing),
# each target for FUZZ_SECONDS, seeded from tests/data. Too slow for `make test`.
FUZZ_SECONDS ?= 60
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh

# Redelivery for real, on an emulator of its own: the local host killed at random moments of
# imports (CRASH_SEED=n replays one run's moments), and two hosts handling messages at once.
# Minutes long: not in `make test`; .ci/run runs it. Its kills and lapsed hides are timed for the
# emulator with moto's own DynamoDB serializer (scripts/moto_server.py), which it keeps.
crash-test: deps
	cargo build -p local
	@state=$$(mktemp -d); trap 'scripts/emulator.sh stop "$$state"; rm -rf "$$state"' EXIT; \
	  port=$$(scripts/emulator.sh free-port); MOTO_SHAPE_SERIALIZER=1 scripts/emulator.sh start $$port "$$state" && \
	  AWS_ENDPOINT_URL=http://127.0.0.1:$$port cargo test -p tests --test all -- --ignored --test-threads=1 crashes::

# The largest files tested here, on an emulator of their own: a 2 GiB CSV (71,508 rows of 30 KB,
# 1,000 contacts) through `importctl import` as a multipart upload of 410 parts, with exact
# stats. Minutes long and gigabytes of disk: not in `make test`.
test-large: deps
	cargo build -p local -p importctl
	@state=$$(mktemp -d); trap 'scripts/emulator.sh stop "$$state"; rm -rf "$$state"' EXIT; \
	  port=$$(scripts/emulator.sh free-port); scripts/emulator.sh start $$port "$$state" && \
	  AWS_ENDPOINT_URL=http://127.0.0.1:$$port cargo test -p importctl --test importctl -- --ignored --test-threads=1

# The template as SAM sees it, and every function built by cargo-lambda as `sam build` does for a
# deploy. SAM_ARCH=arm64 (the template's default) needs Rust's aarch64 target installed
# (rustup target add aarch64-unknown-linux-gnu); this machine's CI has only x86_64's. The check
# builds without LTO (minutes instead of half an hour on 2 cores); a deploy's `sam build` uses
# the release profile as it is.
SAM_ARCH ?= x86_64
sam-check: sam-deps
	SAM_CLI_TELEMETRY=0 sam validate --lint
	SAM_CLI_TELEMETRY=0 CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
	  sam build --parameter-overrides Architecture=$(SAM_ARCH)
	scripts/sam-package-check.sh

# A release build: debug figures say nothing. Never part of `make test`. The end-to-end measure
# runs on an emulator of its own, on a free port, stopped whatever happens.
bench: deps
	cargo build --release -p bench
	@state=$$(mktemp -d); trap 'scripts/emulator.sh stop "$$state"; rm -rf "$$state"' EXIT; \
	  port=$$(scripts/emulator.sh free-port); scripts/emulator.sh start $$port "$$state" && \
	  AWS_ENDPOINT_URL=http://127.0.0.1:$$port cargo run --quiet --release -p bench -- $(BENCH_ARGS)

fmt:
	cargo fmt --all
