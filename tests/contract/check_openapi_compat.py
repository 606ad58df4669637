#!/usr/bin/env python3
"""The /v1 compatibility promise (docs/api-versioning.md), held against a committed snapshot.

api/openapi-v1-baseline.json is the released surface of api/openapi.yaml: every operation
(method and path) with its operationId, the parameters a caller must send, and for each 2xx
response the fields it always carries (required, followed through $ref and allOf, nested as
`principal.id` or `value[].id`). The check fails when the document loses any of it: an
operation, an operationId, a 2xx response or one of its required fields; or when it asks more
of callers (a parameter required that was not). Additions pass.

  check_openapi_compat.py api/openapi.yaml api/openapi-v1-baseline.json   # the check
  check_openapi_compat.py --write api/openapi.yaml api/openapi-v1-baseline.json
                          # takes a new snapshot (only when a change is additive, as the check says)
  check_openapi_compat.py --self-test api/openapi.yaml api/openapi-v1-baseline.json
                          # the check must catch a removed operation and a removed field

Needs PyYAML (Debian: python3-yaml; scripts/install-deps.sh installs it).
"""
import copy
import json
import sys

try:
    import yaml
except ImportError:
    print("FAIL: PyYAML is missing (apt-get install python3-yaml; scripts/install-deps.sh)")
    sys.exit(1)

METHODS = ("get", "put", "post", "delete", "patch")
MAX_DEPTH = 8


def resolve(spec, node):
    """Follows a local $ref (#/components/...)."""
    seen = 0
    while isinstance(node, dict) and "$ref" in node and seen < 32:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise SystemExit(f"FAIL: non-local $ref {ref}")
        node = spec
        for part in ref[2:].split("/"):
            node = node[part]
        seen += 1
    return node


def required_fields(spec, schema, prefix="", depth=0):
    """The dotted names of the fields a response always carries."""
    out = set()
    schema = resolve(spec, schema)
    if not isinstance(schema, dict) or depth > MAX_DEPTH:
        return out
    for part in schema.get("allOf", []):
        out |= required_fields(spec, part, prefix, depth + 1)
    props = schema.get("properties", {})
    for name in schema.get("required", []):
        out.add(prefix + name)
        if name in props:
            out |= required_fields(spec, props[name], f"{prefix}{name}.", depth + 1)
    if "items" in schema:
        out |= required_fields(spec, schema["items"], f"{prefix[:-1] if prefix else ''}[].",
                               depth + 1)
    return out


def surface(spec):
    """The released surface of a document (what the baseline holds)."""
    ops = {}
    for path, item in spec.get("paths", {}).items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            params = [resolve(spec, p) for p in item.get("parameters", []) + op.get("parameters", [])]
            responses = {}
            for status, resp in op.get("responses", {}).items():
                if not str(status).startswith("2"):
                    continue
                resp = resolve(spec, resp)
                schema = resp.get("content", {}).get("application/json", {}).get("schema")
                responses[str(status)] = sorted(required_fields(spec, schema)) if schema else []
            ops[f"{method.upper()} {path}"] = {
                "operationId": op.get("operationId"),
                "requiredParameters": sorted(f"{p['in']}:{p['name']}" for p in params
                                             if p.get("required") and p.get("in") != "path"),
                "responses": responses,
            }
    return {"openapi": spec.get("openapi"), "operations": dict(sorted(ops.items()))}


def compare(base, now):
    """What now breaks of base: a list of sentences (empty when compatible)."""
    bad = []
    for key, b in base["operations"].items():
        n = now["operations"].get(key)
        if n is None:
            bad.append(f"{key}: the operation is gone")
            continue
        if n["operationId"] != b["operationId"]:
            bad.append(f"{key}: operationId {b['operationId']} became {n['operationId']}")
        for p in sorted(set(n["requiredParameters"]) - set(b["requiredParameters"])):
            bad.append(f"{key}: the parameter {p} is required now")
        for status, fields in b["responses"].items():
            if status not in n["responses"]:
                bad.append(f"{key}: the {status} response is gone")
                continue
            for f in sorted(set(fields) - set(n["responses"][status])):
                bad.append(f"{key} {status}: the required field {f} is gone (or optional now)")
    return bad


def self_test(spec, base):
    """The check catches an operation and a required field taken out of the document."""
    broken = copy.deepcopy(spec)
    del broken["paths"]["/v1/loginGrants/{grantId}"]["delete"]
    broken["components"]["schemas"]["LoginGrant"]["required"].remove("state")
    broken["paths"]["/v1/operations/{operationId}"]["get"]["operationId"] = "renamed"
    found = compare(base, surface(broken))
    want = ["DELETE /v1/loginGrants/{grantId}: the operation is gone",
            "the required field state is gone",
            "GET /v1/operations/{operationId}: operationId getOperation became renamed"]
    missing = [w for w in want if not any(w in f for f in found)]
    for m in missing:
        print(f"FAIL: the check missed: {m}")
    return not missing


def main(argv):
    mode = argv[1] if argv[1].startswith("--") else None
    spec_path, base_path = argv[-2], argv[-1]
    with open(spec_path, encoding="utf-8") as f:
        spec = yaml.safe_load(f)
    now = surface(spec)
    if mode == "--write":
        with open(base_path, "w", encoding="utf-8") as f:
            json.dump(now, f, indent=1, sort_keys=True)
            f.write("\n")
        print(f"wrote {base_path}: {len(now['operations'])} operations")
        return 0
    with open(base_path, encoding="utf-8") as f:
        base = json.load(f)
    if mode == "--self-test":
        ok = self_test(spec, base)
        print("the check catches removals" if ok else "")
        return 0 if ok else 1
    bad = compare(base, now)
    for b in bad:
        print(f"FAIL: {b}")
    nfields = sum(len(v) for o in base["operations"].values() for v in o["responses"].values())
    print(f"{len(base['operations'])} released operations, {nfields} required response fields; "
          f"{len(now['operations']) - len(base['operations'])} operations added")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
