#!/usr/bin/env bash
# The samples in events/ work with `cargo lambda invoke` against `cargo lambda watch`, which runs
# the real function binaries (here: the HTTP ones, import-api and create-import, and the SQS ones,
# transform, deliver-webhooks and dead-letters) against a stack that `local serve` provisions on the emulator.
#   AWS_ENDPOINT_URL=... scripts/lambda-check.sh      (scripts/test.sh runs it on its emulator)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
: "${AWS_ENDPOINT_URL:?set it to the emulator URL, as scripts/test.sh does}"
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
export AWS_REGION=${AWS_REGION:-us-east-1}
lambda="$here/.venv/bin/cargo-lambda"
work=$(mktemp -d)
api_port=$(scripts/emulator.sh free-port)
invoke_port=$(scripts/emulator.sh free-port)
RUST_LOG=warn target/debug/local serve --port "$api_port" --prefix "lc$(date +%s)" --env-file "$work/functions.env" \
  >"$work/serve.log" 2>&1 &
server=$!
trap 'kill $server ${watch:-} 2>/dev/null || true; rm -rf "$work"' EXIT
for i in $(seq 1 300); do
  if [ -s "$work/functions.env" ]; then break; fi
  if ! kill -0 $server 2>/dev/null || [ "$i" = 300 ]; then echo "the local host did not come up" >&2; cat "$work/serve.log" >&2; exit 1; fi
  sleep 0.2
done
RUST_LOG=warn "$lambda" lambda watch --invoke-port "$invoke_port" --env-file "$work/functions.env" --ignore-changes \
  >"$work/watch.log" 2>&1 &
watch=$!

# What the function answered, as JSON; the first call waits for the watcher and the build.
invoke() {
  local function=$1 sample=$2
  for _ in $(seq 1 150); do
    if "$lambda" lambda invoke "$function" --invoke-port "$invoke_port" --data-file "events/$function/$sample" \
      --output-format json 2>"$work/invoke.err"; then return 0; fi
    if ! kill -0 $watch 2>/dev/null; then cat "$work/watch.log" "$work/invoke.err" >&2; exit 1; fi
    sleep 2
  done
  cat "$work/watch.log" "$work/invoke.err" >&2
  exit 1
}

# expect FUNCTION SAMPLE PYTHON-CONDITION-ON-r
expect() {
  local answer
  answer=$(invoke "$1" "$2")
  if ! python3 -c "import json,sys; r=json.loads(sys.argv[1]); sys.exit(0 if ($3) else 1)" "$answer"; then
    echo "events/$1/$2: expected $3, got: $answer" >&2
    exit 1
  fi
  echo "ok  events/$1/$2"
}

expect import-api list-imports.json 'r["statusCode"] == 200 and json.loads(r["body"])["data"] == []'
expect import-api get-import.json 'r["statusCode"] == 404'
expect create-import invalid-body.json 'r["statusCode"] == 400 and "details" in json.loads(r["body"])["error"]'
expect create-import contact-csv.json 'r["statusCode"] == 201 and json.loads(r["body"])["status"] == "awaiting_upload"'
expect transform one-malformed.json 'r["batchItemFailures"] == [{"itemIdentifier": "msg-2"}]'
expect transform chunk.json 'r["batchItemFailures"] == []'
expect import-api webhook-secret.json 'r["statusCode"] == 200 and json.loads(r["body"])["secret"].startswith("whsec_")'
expect deliver-webhooks refused-and-malformed.json 'r["batchItemFailures"] == [{"itemIdentifier": "msg-2"}]'
expect dead-letters letters.json 'r["batchItemFailures"] == []'
