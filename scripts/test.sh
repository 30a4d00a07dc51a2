#!/usr/bin/env bash
# Every test, against an emulator of its own on a free port, stopped whatever happens.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
state=$(mktemp -d)
trap '"$here/scripts/emulator.sh" stop "$state"; rm -rf "$state"' EXIT
port=$("$here/scripts/emulator.sh" free-port)
"$here/scripts/emulator.sh" start "$port" "$state"
export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
cd "$here"
cargo test --workspace "$@"
