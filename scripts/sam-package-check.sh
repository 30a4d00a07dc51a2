#!/usr/bin/env bash
# `sam package` of the built template against the emulator's S3, as `sam deploy` runs it: every
# function's code and the included openapi.yaml are uploaded, and the packaged template points at
# them (the API definition byte for byte). Run after `sam build` (make sam-check does).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
state=$(mktemp -d)
trap 'scripts/emulator.sh stop "$state"; rm -rf "$state"' EXIT
port=$(scripts/emulator.sh free-port)
scripts/emulator.sh start "$port" "$state" >/dev/null
export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=${AWS_REGION:-us-east-1} AWS_DEFAULT_REGION=${AWS_REGION:-us-east-1} SAM_CLI_TELEMETRY=0
.venv/bin/python -c 'import boto3; boto3.client("s3").create_bucket(Bucket="sam-artifacts")'
if ! .venv/bin/sam package --s3-bucket sam-artifacts --output-template-file "$state/packaged.yaml" \
  >"$state/package.log" 2>&1; then
  cat "$state/package.log" >&2; exit 1
fi
.venv/bin/python - "$state/packaged.yaml" <<'PY'
import sys
import boto3
from samcli.yamlhelper import yaml_parse

packaged = yaml_parse(open(sys.argv[1]).read())
s3 = boto3.client("s3")
def fetch(url):
    assert url.startswith("s3://sam-artifacts/"), url
    return s3.get_object(Bucket="sam-artifacts", Key=url.split("/", 3)[3])["Body"].read()
resources = packaged["Resources"]
functions = [k for k, r in resources.items() if r["Type"] == "AWS::Serverless::Function"]
for name in functions:
    assert fetch(resources[name]["Properties"]["CodeUri"]), f"{name}: empty code"
location = resources["HttpApi"]["Properties"]["DefinitionBody"]["Fn::Transform"]["Parameters"]["Location"]
assert fetch(location) == open("openapi.yaml", "rb").read(), "the uploaded API definition is not openapi.yaml"
print(f"sam package: {len(functions)} functions and openapi.yaml uploaded; the template points at them")
PY
