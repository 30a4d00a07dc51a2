#!/usr/bin/env bash
# Every test, against emulators of its own on free ports, stopped whatever happens.
#   scripts/test.sh                          everything, as `make test` runs it (see below)
#   scripts/test.sh [cargo test arguments]   `cargo test --workspace ARGS` on one emulator, then the
#                                            API, `cargo lambda` and README checks (API_CHECK=0 skips
#                                            those),
#                                            e.g. API_CHECK=0 scripts/test.sh --test all -- sweeper::
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
state=$(mktemp -d)
trap 'for dir in "$state"/*/; do [ -d "$dir" ] && scripts/emulator.sh stop "$dir"; done; rm -rf "$state"' EXIT
# Most integration tests wait (on queues, retries, the emulator) rather than compute: four at a
# time on two cores overlaps their waits.
export RUST_TEST_THREADS=${RUST_TEST_THREADS:-4}

# Runs a command with AWS_ENDPOINT_URL set to an emulator of its own, named NAME.
on_emulator() {
  local name=$1 port
  shift
  port=$(scripts/emulator.sh free-port)
  scripts/emulator.sh start "$port" "$state/$name" >/dev/null
  local started=$SECONDS status=0
  AWS_ENDPOINT_URL="http://127.0.0.1:$port" "$@" || status=$?
  echo "($name: $((SECONDS - started)) s)"
  return $status
}

# The API against openapi.yaml, the events/ samples through `cargo lambda watch`, and the README's
# marked shell blocks against a local host.
checks() {
  scripts/api-check.sh
  scripts/lambda-check.sh
  scripts/readme-check.sh
}

if [ $# -gt 0 ]; then
  make --no-print-directory deps
  on_emulator main cargo test --workspace "$@"
  if [ "${API_CHECK:-1}" != 0 ]; then
    cargo build --workspace --bins --quiet
    on_emulator checks checks
  fi
  exit 0
fi

# Everything at once, each part on an emulator of its own: the integration tests (one binary,
# tests/tests/all) in two halves, every other test of the workspace, and the checks. An emulator
# is one Python process that keeps one core busy: two halves on two emulators use both. The first
# half is the files named here, the second every other test (`--skip` of the same names), so
# each test runs once whatever files are added; the names split the suite's time about evenly.
FIRST_HALF=(corpus:: dead_letters:: write_limits:: concurrency:: events:: revert:: uploads:: packed:: scan_parts:: sweeper:: documents::)
skips=()
for name in "${FIRST_HALF[@]}"; do skips+=(--skip "$name"); done
# The virtualenv's install (pip, one core, and the network) and the quick lints go on beside the
# build, which needs neither; the emulators wait for both.
make --no-print-directory deps quick-lint >"$state/lint.log" 2>&1 &
lint=$!
cargo build --workspace --bins
cargo test --workspace --no-run
lint_status=0
wait $lint || lint_status=$?
cat "$state/lint.log"
if [ $lint_status != 0 ]; then echo "failed: make deps quick-lint" >&2; exit 1; fi
parts=(integration-1 integration-2 units checks)
RUST_TEST_THREADS=${INTEGRATION_TEST_THREADS:-4} \
  on_emulator integration-1 cargo test --workspace --test all -- "${FIRST_HALF[@]}" >"$state/integration-1.log" 2>&1 &
pids=($!)
RUST_TEST_THREADS=${INTEGRATION_TEST_THREADS:-4} \
  on_emulator integration-2 cargo test --workspace --test all -- "${skips[@]}" >"$state/integration-2.log" 2>&1 &
pids+=($!)
# Unit tests, doc tests, the other crates' test files.
on_emulator units cargo test --workspace --exclude tests >"$state/units.log" 2>&1 &
pids+=($!)
if [ "${API_CHECK:-1}" != 0 ]; then
  on_emulator checks checks >"$state/checks.log" 2>&1 &
  pids+=($!)
else
  parts=(integration-1 integration-2 units)
fi
failed=()
for i in "${!parts[@]}"; do
  wait "${pids[$i]}" || failed+=("${parts[$i]}")
  echo "== ${parts[$i]}"
  cat "$state/${parts[$i]}.log"
done
if [ ${#failed[@]} -gt 0 ]; then echo "failed: ${failed[*]}" >&2; exit 1; fi
