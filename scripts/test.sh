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

# Everything at once, each part on an emulator of its own: one emulator answers DynamoDB one call
# at a time on one core, so the integration tests are split in two halves, and the checks run
# beside them. HEAVY are modules of tests/tests/all whose imports keep an emulator busiest, about
# half of the emulator's work.
HEAVY=(corpus:: sweeper:: fairness:: redelivery:: revert:: webhooks::)
skip=()
for module in "${HEAVY[@]}"; do skip+=(--skip "$module"); done
cargo build --workspace --bins
cargo test --workspace --no-run
# Three at a time in each half: six imports at once on two cores stay well within a test's
# timeouts, where eight at times did not on a loaded machine.
RUST_TEST_THREADS=${TEST_THREADS_PER_HALF:-3}
parts=(heavy rest units checks)
on_emulator heavy cargo test --workspace --test all -- "${HEAVY[@]}" >"$state/heavy.log" 2>&1 &
pids=($!)
on_emulator rest cargo test --workspace --test all -- "${skip[@]}" >"$state/rest.log" 2>&1 &
pids+=($!)
# Every other test of the workspace: unit tests, doc tests, the other crates' test files.
on_emulator units cargo test --workspace --exclude tests >"$state/units.log" 2>&1 &
pids+=($!)
if [ "${API_CHECK:-1}" != 0 ]; then
  on_emulator checks checks >"$state/checks.log" 2>&1 &
  pids+=($!)
else
  parts=(heavy rest units)
fi
failed=()
for i in "${!parts[@]}"; do
  wait "${pids[$i]}" || failed+=("${parts[$i]}")
  echo "== ${parts[$i]}"
  cat "$state/${parts[$i]}.log"
done
if [ ${#failed[@]} -gt 0 ]; then echo "failed: ${failed[*]}" >&2; exit 1; fi
