#!/usr/bin/env python3
"""The deployed HTTP API is openapi.yaml: check the template as CloudFormation will run it.

CloudFormation expands `Fn::Transform: AWS::Include` before the SAM transform; `sam validate`
and cfn-lint never read the included file. This script does what CloudFormation does (inline
the file), runs SAM's own translator (samtranslator, in the venv with aws-sam-cli) and cfn-lint
on the result, and checks what API Gateway will import:
  - an OpenAPI 3.0 document (API Gateway refuses 3.1);
  - every operation has the JWT authorizer and a Lambda proxy integration (payload 2.0) on the
    function that serves it: POST /v1/imports create-import, every other route import-api;
  - the authorizer takes its issuer and audience from the stack parameters;
  - each integrated function lets API Gateway invoke it for this API.
    .venv/bin/python scripts/template-api-check.py [template.yaml]
"""
import json
import os
import subprocess
import sys
import tempfile

from samcli.yamlhelper import yaml_parse
from samtranslator.translator.transform import transform

METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}
# Which function serves which route (functions/import-api routes everything but the create).
SERVED_BY = {("post", "/v1/imports"): "CreateImportFunction"}
DEFAULT_FUNCTION = "ImportApiFunction"
AUTHORIZER = "JwtAuthorizer"


def include(node, base):
    """Replace every AWS::Include with the file it names, as CloudFormation does."""
    if isinstance(node, dict):
        t = node.get("Fn::Transform")
        if isinstance(t, dict) and t.get("Name") == "AWS::Include" and len(node) == 1:
            path = os.path.join(base, t["Parameters"]["Location"])
            with open(path) as f:
                return include(yaml_parse(f.read()), base)
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

    functions = set()
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
            uri = json.dumps((integration or {}).get("uri"))
            if not integration or (integration.get("type"), integration.get("httpMethod"),
                                   integration.get("payloadFormatVersion")) != ("aws_proxy", "POST", "2.0"):
                problems.append(f"{route}: not a Lambda proxy integration, payload 2.0: {integration!r}")
            elif f"${{{function}.Arn}}" not in uri:
                problems.append(f"{route}: integration {uri}, want {function}")
            else:
                functions.add(function)
    if operations == 0:
        problems.append("the API has no operations")

    for function in sorted(functions):
        if resources.get(function, {}).get("Type") != "AWS::Lambda::Function":
            problems.append(f"{function}: no such function")
            continue
        allowed = [
            r for r in resources.values()
            if r["Type"] == "AWS::Lambda::Permission"
            and r["Properties"].get("FunctionName") == {"Ref": function}
            and r["Properties"].get("Principal") == "apigateway.amazonaws.com"
            and "${HttpApi}" in json.dumps(r["Properties"].get("SourceArn"))
        ]
        if not allowed:
            problems.append(f"{function}: API Gateway may not invoke it (no Lambda permission for HttpApi)")
    print(f"{template_path}: HttpApi from its included definition, {operations} operations, "
          f"integrations on {', '.join(sorted(functions)) or 'nothing'}")
    return problems


if __name__ == "__main__":
    found = check(sys.argv[1] if len(sys.argv) > 1 else "template.yaml")
    for p in found:
        print("template-api-check:", p, file=sys.stderr)
    sys.exit(1 if found else 0)
