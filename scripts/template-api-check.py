#!/usr/bin/env python3
"""The deployed HTTP API is openapi.yaml: check the template as CloudFormation will run it.

CloudFormation expands `Fn::Transform: AWS::Include` before the SAM transform; `sam validate`
and cfn-lint never read the included file. This script does what CloudFormation does (inline
the file), runs SAM's own translator (samtranslator) and cfn-lint
on the result, and checks what API Gateway will import:
  - an OpenAPI 3.0 document (API Gateway refuses 3.1);
  - every operation has the JWT authorizer and a Lambda proxy integration (payload 2.0) on the
    function that serves it: POST /v1/imports create-import, every other route import-api;
  - the authorizer takes its issuer and audience from the stack parameters;
  - API Gateway may invoke each route's function: a permission of that function whose SourceArn
    matches the route's execute-api ARN;
and the stack's hardening (issue 16, item 8), each a check so that a regression fails `make lint`:
  - the uploads bucket's policy denies every request without TLS (aws:SecureTransport false);
  - every DynamoDB table is kept when the stack deletes or replaces it, with deletion protection;
  - the HTTP API's default stage throttles to a rate and a burst taken from stack parameters;
  - prevalidate's asynchronous (S3) invocations have a retry limit and an on-failure SQS queue
    its role may send to;
  - the import-api function may write no record (only create-import runs `mode: sync`), and no
    function's policy allows a whole service (`dynamodb:*`) or every action.
    .venv/bin/python scripts/template-api-check.py [template.yaml]
"""
import fnmatch
import json
import os
import subprocess
import sys
import tempfile

import yaml
from cfnlint.decode.cfn_yaml import loads as yaml_parse
from samtranslator.translator.transform import transform

METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}
# Which function serves which route (functions/import-api routes everything but the create).
SERVED_BY = {("post", "/v1/imports"): "CreateImportFunction"}
DEFAULT_FUNCTION = "ImportApiFunction"
AUTHORIZER = "JwtAuthorizer"


LAMBDA_URI = "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${%s.Arn}/invocations"


def include(node, base):
    """Replace every AWS::Include with the file it names, as CloudFormation does. The file is
    plain YAML: the short forms of intrinsic functions (`!Sub`) are not read in an included file."""
    if isinstance(node, dict):
        t = node.get("Fn::Transform")
        if isinstance(t, dict) and t.get("Name") == "AWS::Include" and len(node) == 1:
            path = os.path.join(base, t["Parameters"]["Location"])
            with open(path) as f:
                return include(yaml.safe_load(f), base)
        return {k: include(v, base) for k, v in node.items()}
    if isinstance(node, list):
        return [include(v, base) for v in node]
    return node


def resolve(doc, node):
    """Follow a local $ref (the integrations are shared from components)."""
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), ref
        node = doc
        for part in ref[2:].split("/"):
            node = node[part]
    return node


class NoManagedPolicies:
    def load(self):
        return {}


def check(template_path):
    problems = []
    with open(template_path) as f:
        template = yaml_parse(f.read())
    expanded = include(template, os.path.dirname(os.path.abspath(template_path)))
    api = expanded["Resources"]["HttpApi"]["Properties"]
    if "DefinitionBody" not in api or "Fn::Transform" in json.dumps(api["DefinitionBody"]):
        return ["HttpApi has no DefinitionBody included from a file"]

    # cfn-lint on the template as CloudFormation sees it after the include.
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as out:
        json.dump(expanded, out)
    lint = subprocess.run([os.path.join(os.path.dirname(sys.executable), "cfn-lint"), out.name],
                          capture_output=True, text=True)
    os.unlink(out.name)
    if lint.returncode != 0:
        problems.append("cfn-lint on the expanded template:\n" + lint.stdout + lint.stderr)

    # SAM's translator, as CloudFormation runs it (code locations do not matter here).
    for resource in expanded["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://bucket/code.zip"
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    resources = transform(expanded, {}, NoManagedPolicies())["Resources"]
    body = resources["HttpApi"]["Properties"]["Body"]

    if not str(body.get("openapi", "")).startswith("3.0."):
        problems.append(f"openapi is {body.get('openapi')!r}: API Gateway imports 3.0 only")
    scheme = body.get("components", {}).get("securitySchemes", {}).get(AUTHORIZER, {})
    authorizer = scheme.get("x-amazon-apigateway-authorizer", {})
    want = {
        "type": "jwt",
        "identitySource": "$request.header.Authorization",
        "jwtConfiguration": {"issuer": {"Ref": "JwtIssuer"}, "audience": {"Ref": "JwtAudience"}},
    }
    if authorizer != want:
        problems.append(f"{AUTHORIZER}: {authorizer!r}, want {want!r}")

    routes = []
    operations = 0
    for path, item in body.get("paths", {}).items():
        for method, op in item.items():
            if method not in METHODS:
                continue
            operations += 1
            route = f"{method.upper()} {path}"
            if op.get("security") != [{AUTHORIZER: []}]:
                problems.append(f"{route}: security {op.get('security')!r}")
            integration = resolve(body, op.get("x-amazon-apigateway-integration"))
            function = SERVED_BY.get((method, path), DEFAULT_FUNCTION)
            want = {"type": "aws_proxy", "httpMethod": "POST", "payloadFormatVersion": "2.0",
                    "uri": {"Fn::Sub": LAMBDA_URI % function}}
            if integration != want:
                problems.append(f"{route}: integration {integration!r}, want {want!r}")
            elif resources.get(function, {}).get("Type") != "AWS::Lambda::Function":
                problems.append(f"{route}: {function} is not a function of the template")
            elif not invocable(resources, function, method, path):
                problems.append(f"{route}: no permission lets API Gateway invoke {function} for it")
            else:
                routes.append(route)
    if operations == 0:
        problems.append("the API has no operations")
    print(f"{template_path}: HttpApi from its included definition, {len(routes)} of {operations} "
          "operations with their authorizer, integration and invoke permission")
    hardening = hardened(expanded.get("Parameters", {}), resources, expanded.get("Mappings", {}))
    failing = {p.split(":")[0] for p in hardening}
    print(f"{template_path}: {len(set(HARDENING) - failing)} of {len(HARDENING)} hardening checks hold")
    return problems + hardening


# The hardening checks, by name (each problem starts with one).
HARDENING = ["bucket-tls", "table-retain", "stage-throttling", "prevalidate-on-failure", "api-no-record-writes",
             "no-wildcard-actions", "status-index-readers", "write-budget"]
# Write units a second one process instance writes (docs/operations.md, "Write-rate budget").
INSTANCE_WRITE_UNITS = 4000
# The functions that look for a running import of a type (overwrite::running_beside, when a run is
# created or planned): a Query of the by_status index, then a BatchGetItem of the items.
STATUS_READERS = ["CreateImportFunction", "ImportApiFunction", "PrevalidateFunction", "TransformFunction"]
# DynamoDB actions that change items (PartiQL included).
WRITES = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem",
          "dynamodb:PartiQLInsert", "dynamodb:PartiQLUpdate", "dynamodb:PartiQLDelete", "dynamodb:*", "*"}
RECORD_WRITER = "ImportApiFunction"


def listed(value):
    return value if isinstance(value, list) else [value]


def statements(role):
    """The Allow statements of a role's inline policies."""
    for policy in role.get("Properties", {}).get("Policies", []):
        for st in listed(policy.get("PolicyDocument", {}).get("Statement", [])):
            if st.get("Effect") == "Allow":
                yield st


def names(resource, logical):
    """Whether a policy resource names `logical` (Ref, GetAtt, or a Sub mentioning it), or all."""
    return resource == "*" or logical in json.dumps(resource)


def hardened(parameters, resources, mappings):
    found = []
    by_type = lambda t: {k: r for k, r in resources.items() if r.get("Type") == t}

    # The uploads bucket: a Deny of everything without TLS, on the bucket and its objects.
    buckets = by_type("AWS::S3::Bucket")
    for bucket in buckets:
        want = [{"Fn::GetAtt": [bucket, "Arn"]}, {"Fn::Sub": "${%s.Arn}/*" % bucket}]
        denies = False
        for policy in by_type("AWS::S3::BucketPolicy").values():
            if policy["Properties"].get("Bucket") != {"Ref": bucket}:
                continue
            for st in listed(policy["Properties"].get("PolicyDocument", {}).get("Statement", [])):
                denies |= (st.get("Effect") == "Deny" and st.get("Principal") in ("*", {"AWS": "*"})
                           and "s3:*" in listed(st.get("Action"))
                           and all(r in listed(st.get("Resource")) for r in want)
                           and st.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}})
        if not denies:
            found.append(f"bucket-tls: no policy of {bucket} denies s3:* on it and its objects without TLS")
    if not buckets:
        found.append("bucket-tls: the template has no bucket")

    for name, table in by_type("AWS::DynamoDB::Table").items():
        if table.get("DeletionPolicy") != "Retain" or table.get("UpdateReplacePolicy") != "Retain":
            found.append(f"table-retain: {name} needs DeletionPolicy and UpdateReplacePolicy Retain")
        if table["Properties"].get("DeletionProtectionEnabled") is not True:
            found.append(f"table-retain: {name} needs DeletionProtectionEnabled: true")

    stages = [s for s in by_type("AWS::ApiGatewayV2::Stage").values()
              if s["Properties"].get("ApiId") == {"Ref": "HttpApi"}]
    if not stages:
        found.append("stage-throttling: HttpApi has no stage")
    for stage in stages:
        settings = stage["Properties"].get("DefaultRouteSettings", {})
        for limit in ("ThrottlingRateLimit", "ThrottlingBurstLimit"):
            ref = settings.get(limit, {}).get("Ref") if isinstance(settings.get(limit), dict) else None
            if parameters.get(ref, {}).get("Type") != "Number":
                found.append(f"stage-throttling: {stage['Properties'].get('StageName')} {limit} is "
                             f"{settings.get(limit)!r}, not a Number parameter")

    configs = [c["Properties"] for c in by_type("AWS::Lambda::EventInvokeConfig").values()
               if c["Properties"].get("FunctionName") == {"Ref": "PrevalidateFunction"}]
    target = configs[0].get("DestinationConfig", {}).get("OnFailure", {}).get("Destination") if configs else None
    queue = target.get("Fn::GetAtt", [None])[0] if isinstance(target, dict) else None
    if not configs or not isinstance(configs[0].get("MaximumRetryAttempts"), int):
        found.append("prevalidate-on-failure: PrevalidateFunction has no EventInvokeConfig with MaximumRetryAttempts")
    elif resources.get(queue, {}).get("Type") != "AWS::SQS::Queue":
        found.append(f"prevalidate-on-failure: the on-failure destination {target!r} is not a queue of the stack")
    elif not any("sqs:SendMessage" in listed(st.get("Action")) and names(st.get("Resource"), queue)
                 for st in statements(resources.get("PrevalidateFunctionRole", {}))):
        found.append(f"prevalidate-on-failure: PrevalidateFunctionRole may not send to {queue}")

    for st in statements(resources.get(f"{RECORD_WRITER}Role", {})):
        writes = WRITES & set(listed(st.get("Action")))
        if writes and any(names(r, "RecordsTable") for r in listed(st.get("Resource"))):
            found.append(f"api-no-record-writes: {RECORD_WRITER} may {sorted(writes)} on the records table")
    if f"{RECORD_WRITER}Role" not in resources:
        found.append(f"api-no-record-writes: no role {RECORD_WRITER}Role")

    for function in STATUS_READERS:
        granted = [(set(listed(st.get("Action"))), json.dumps(st.get("Resource")))
                   for st in statements(resources.get(f"{function}Role", {}))]
        if not any("dynamodb:Query" in a and "index/by_status" in r for a, r in granted):
            found.append(f"status-index-readers: {function} may not query ImportsTable's by_status index")
        if not any("dynamodb:BatchGetItem" in a and "ImportsTable" in r for a, r in granted):
            found.append(f"status-index-readers: {function} may not BatchGetItem on ImportsTable")

    # Process's concurrency comes from the write budget: budget / one instance's units, at least 2.
    want = {"Fn::FindInMap": ["WriteBudget", {"Ref": "ImportWriteBudget"}, "ProcessMaxConcurrency"]}
    process = [m["Properties"] for m in by_type("AWS::Lambda::EventSourceMapping").values()
               if m["Properties"].get("FunctionName") == {"Ref": "ProcessFunction"}]
    if not process or process[0].get("ScalingConfig", {}).get("MaximumConcurrency") != want:
        found.append(f"write-budget: ProcessFunction's MaximumConcurrency is not {want!r}")
    for budget in parameters.get("ImportWriteBudget", {}).get("AllowedValues", [None]):
        derived = mappings.get("WriteBudget", {}).get(str(budget), {}).get("ProcessMaxConcurrency")
        if budget is None or derived != max(2, int(budget) // INSTANCE_WRITE_UNITS):
            found.append(f"write-budget: ImportWriteBudget {budget} maps to {derived!r} process instances")

    for name, role in by_type("AWS::IAM::Role").items():
        for st in statements(role):
            wide = [a for a in listed(st.get("Action")) if a == "*" or str(a).endswith(":*")]
            if wide:
                found.append(f"no-wildcard-actions: {name} allows {wide}")
    return found


def invocable(resources, function, method, path):
    """A permission of `function` for API Gateway whose SourceArn (`Fn::Sub` on this API)
    matches the route's execute-api ARN, any stage."""
    arn = ("arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${HttpApi}/$default/"
           + method.upper() + "".join("/p" if p.startswith("{") else "/" + p for p in path.strip("/").split("/")))
    for r in resources.values():
        p = r["Properties"] if r["Type"] == "AWS::Lambda::Permission" else {}
        source = p.get("SourceArn", {})
        if (p.get("FunctionName") == {"Ref": function} and p.get("Principal") == "apigateway.amazonaws.com"
                and p.get("Action") == "lambda:InvokeFunction" and isinstance(source, dict)
                and isinstance(source.get("Fn::Sub"), str) and fnmatch.fnmatchcase(arn, source["Fn::Sub"])):
            return True
    return False


if __name__ == "__main__":
    found = check(sys.argv[1] if len(sys.argv) > 1 else "template.yaml")
    for p in found:
        print("template-api-check:", p, file=sys.stderr)
    sys.exit(1 if found else 0)
