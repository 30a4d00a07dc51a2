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
# The host answers once its stack is provisioned.
for i in $(seq 1 600); do
  if "$importctl" list --limit 1 >/dev/null 2>&1; then break; fi
  if [ -n "$host" ] && ! kill -0 "$host" 2>/dev/null; then
    echo "the local host stopped; the end of its log ($log):" >&2; tail -n 20 "$log" >&2; exit 1
  fi
  if [ "$i" = 600 ]; then echo "the API did not answer on $api; see the local host's log${log:+ ($log)}" >&2; exit 1; fi
  sleep 0.2
done
"$importctl" import "$file" --type contact --wait --timeout 300 --errors "$errors"
here=$(cd "$(dirname "$0")/.." && pwd)
echo
echo "to use importctl yourself, paste:"
echo "export PATH=\"$here/target/debug:\$PATH\"   # importctl; or: cargo install --path cli"
echo "export IMPORTCTL_ENDPOINT=$api IMPORTCTL_TOKEN=\$(importctl token --tenant $tenant)"
echo "importctl list; importctl records contact"
