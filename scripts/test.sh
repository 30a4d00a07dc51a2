#!/usr/bin/env bash
# Every test, against an emulator of its own on a free port, stopped whatever happens.
#   scripts/test.sh [cargo test arguments]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
state=$(mktemp -d)
trap '"$here/scripts/emulator.sh" stop "$state"; rm -rf "$state"' EXIT
port=$("$here/scripts/emulator.sh" free-port)
"$here/scripts/emulator.sh" start "$port" "$state"
export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
cd "$here"
# Most integration tests wait (on queues, retries, the emulator) rather than compute: four at a
# time on two cores overlaps their waits.
export RUST_TEST_THREADS=${RUST_TEST_THREADS:-4}
cargo test --workspace "$@"
# Then the API against openapi.yaml, and the events/ samples through `cargo lambda watch`
# (API_CHECK=0 skips both when running a few tests by hand).
if [ "${API_CHECK:-1}" != 0 ]; then
  cargo build --workspace --bins --quiet
  scripts/api-check.sh
  scripts/lambda-check.sh
fi
