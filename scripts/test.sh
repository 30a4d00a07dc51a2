#!/usr/bin/env bash
# Every test, against emulators of its own on free ports, stopped whatever happens.
#   scripts/test.sh                          everything, as `make test` runs it (see below)
#   scripts/test.sh [cargo test arguments]   `cargo test --workspace ARGS` on one emulator, then the
#                                            API and `cargo lambda` checks (API_CHECK=0 skips those),
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
  AWS_ENDPOINT_URL="http://127.0.0.1:$port" "$@"
}

# The API against openapi.yaml, and the events/ samples through `cargo lambda watch`.
checks() {
  scripts/api-check.sh
  scripts/lambda-check.sh
}

if [ $# -gt 0 ]; then
  on_emulator main cargo test --workspace "$@"
  if [ "${API_CHECK:-1}" != 0 ]; then
    cargo build --workspace --bins --quiet
    on_emulator checks checks
  fi
  exit 0
fi

# Everything at once, each part on an emulator of its own: the integration tests (one binary,
# tests/tests/all), every other test of the workspace, and the checks. The integration tests share
# one emulator, four at a time as when each file was a binary of its own: split in halves on two
# emulators, or eight at a time, some imports timed out (60 s) on a loaded machine.
cargo build --workspace --bins
cargo test --workspace --no-run
parts=(integration units checks)
RUST_TEST_THREADS=${INTEGRATION_TEST_THREADS:-4} \
  on_emulator integration cargo test --workspace --test all >"$state/integration.log" 2>&1 &
pids=($!)
# Unit tests, doc tests, the other crates' test files.
on_emulator units cargo test --workspace --exclude tests >"$state/units.log" 2>&1 &
pids+=($!)
if [ "${API_CHECK:-1}" != 0 ]; then
  on_emulator checks checks >"$state/checks.log" 2>&1 &
  pids+=($!)
else
  parts=(integration units)
fi
failed=()
for i in "${!parts[@]}"; do
  wait "${pids[$i]}" || failed+=("${parts[$i]}")
  echo "== ${parts[$i]}"
  cat "$state/${parts[$i]}.log"
done
if [ ${#failed[@]} -gt 0 ]; then echo "failed: ${failed[*]}" >&2; exit 1; fi
