#!/usr/bin/env python3
"""Every example in openapi.yaml is valid under its schema by OpenAPI 3.0's own rules.

schemathesis reads `nullable` loosely (anywhere, as "or null"); OpenAPI 3.0.3 counts it only
beside a `type`, as strict validators and client generators do. This holds the document to the
strict reading, through its examples: request bodies, parameters and responses.
    .venv/bin/python scripts/openapi-examples-check.py [openapi.yaml]
"""
import sys

import yaml
from openapi_schema_validator import OAS30Validator

METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def main(path):
    with open(path) as f:
        doc = yaml.safe_load(f)

    def deref(node, seen=()):
        if isinstance(node, dict):
            if "$ref" in node:
                ref = node["$ref"]
                if ref in seen:
                    raise ValueError(f"recursive $ref {ref}")
                target = doc
                for part in ref.removeprefix("#/").split("/"):
                    target = target[part]
                return deref(target, seen + (ref,))
            return {k: deref(v, seen) for k, v in node.items()}
        if isinstance(node, list):
            return [deref(v, seen) for v in node]
        return node

    def examples(holder):
        if "example" in holder:
            yield "example", holder["example"]
        for name, ex in (holder.get("examples") or {}).items():
            yield name, ex["value"]

    problems, checked = [], 0

    def check(where, schema, holder):
        nonlocal checked
        for name, value in examples(holder):
            checked += 1
            for e in OAS30Validator(schema).iter_errors(value):
                problems.append(f"{where} {name}: {'/'.join(map(str, e.absolute_path))}: {e.message}")

    for route, item in deref(doc["paths"]).items():
        for method, op in item.items():
            if method not in METHODS:
                continue
            at = f"{method.upper()} {route}"
            for p in item.get("parameters", []) + op.get("parameters", []):
                check(f"{at} parameter {p['name']}", p["schema"], p)
            for mt, media in op.get("requestBody", {}).get("content", {}).items():
                check(f"{at} request {mt}", media.get("schema", {}), media)
            for code, response in op.get("responses", {}).items():
                for mt, media in response.get("content", {}).items():
                    check(f"{at} {code} {mt}", media.get("schema", {}), media)
    for p in problems:
        print("openapi-examples-check:", p, file=sys.stderr)
    print(f"{path}: {checked} examples checked, {len(problems)} invalid")
    return 1 if problems or not checked else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "openapi.yaml"))
