#!/usr/bin/env bash
# The sample import of `make run` and `make up`, as a user runs one: importctl uploads the file
# with a progress bar, follows it to its end and prints the summary.
#   scripts/sample-import.sh API_URL TENANT FILE ERRORS_CSV
set -euo pipefail
api=$1 tenant=$2 file=$3 errors=$4
importctl=target/debug/importctl
export IMPORTCTL_ENDPOINT=$api
IMPORTCTL_TOKEN=$("$importctl" token --tenant "$tenant")
export IMPORTCTL_TOKEN
# The host answers once its stack is provisioned.
for i in $(seq 1 600); do
  if "$importctl" list --limit 1 >/dev/null 2>&1; then break; fi
  if [ "$i" = 600 ]; then echo "the API did not answer on $api; see the server's log" >&2; exit 1; fi
  sleep 0.2
done
"$importctl" import "$file" --type contact --wait --timeout 300 --errors "$errors"
echo
echo "try: export IMPORTCTL_ENDPOINT=$api IMPORTCTL_TOKEN=\$($importctl token --tenant $tenant)"
echo "     $importctl list; $importctl records contact"
