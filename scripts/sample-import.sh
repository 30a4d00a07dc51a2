#!/usr/bin/env bash
# The sample import of `make run` and `make up`, as a user runs one: importctl uploads the file
# with a progress bar, follows it to its end and prints the summary.
#   scripts/sample-import.sh API_URL TENANT FILE ERRORS_CSV [HOST_PID HOST_LOG]
# With the local host's pid and log, a host that stops before answering ends the wait at once,
# with the end of its log.
set -euo pipefail
api=$1 tenant=$2 file=$3 errors=$4 host=${5:-} log=${6:-}
importctl=target/debug/importctl
export IMPORTCTL_ENDPOINT=$api
IMPORTCTL_TOKEN=$("$importctl" token --tenant "$tenant")
export IMPORTCTL_TOKEN
# shellcheck source=scripts/local-host.sh
source scripts/local-host.sh
wait_for_local_host "$host" "$log" 120
"$importctl" import "$file" --type contact --wait --timeout 300 --errors "$errors"
here=$(cd "$(dirname "$0")/.." && pwd)
echo
echo "to use importctl yourself, paste:"
echo "export PATH=\"$here/target/debug:\$PATH\"   # importctl; or: cargo install --path cli"
echo "export IMPORTCTL_ENDPOINT=$api IMPORTCTL_TOKEN=\$(importctl token --tenant $tenant)"
echo "importctl list; importctl records contact"
