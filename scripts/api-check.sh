#!/usr/bin/env bash
# openapi.yaml against the real API: the document validates, its examples hold under OpenAPI 3.0's
# strict reading of `nullable` (scripts/openapi-examples-check.py), and schemathesis drives a local host
# with a bounded number of generated requests per operation (fixed seeds), failing on any 5xx or any
# answer that breaks the document's schemas.
#   AWS_ENDPOINT_URL=... scripts/api-check.sh      (scripts/test.sh runs it on its emulator)
#   API_CHECK_EXAMPLES=100 API_CHECK_SEEDS="1 2 3"  (`make api-fuzz`): more requests, one run a seed
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
: "${AWS_ENDPOINT_URL:?set it to the emulator URL, as scripts/test.sh does}"
venv="$here/.venv/bin"
# shellcheck source=scripts/local-host.sh
source scripts/local-host.sh
"$venv/openapi-spec-validator" openapi.yaml
"$venv/python" scripts/openapi-examples-check.py openapi.yaml
start_local_host "st$(date +%s)"
IMPORTCTL_TOKEN=$(target/debug/importctl token --tenant schemathesis)
export IMPORTCTL_TOKEN
# Every seed runs; any that failed fails the check.
failed=""
for seed in ${API_CHECK_SEEDS:-1}; do
  echo "schemathesis: ${API_CHECK_EXAMPLES:-20} examples per operation, seed $seed"
  "$venv/schemathesis" run openapi.yaml --url "$IMPORTCTL_ENDPOINT" -H "Authorization: Bearer $IMPORTCTL_TOKEN" \
    --checks not_a_server_error,response_schema_conformance --max-examples "${API_CHECK_EXAMPLES:-20}" \
    --seed "$seed" --continue-on-failure --no-color || failed="$failed $seed"
done
if [ -n "$failed" ]; then echo "schemathesis failed with seed(s)$failed" >&2; exit 1; fi
