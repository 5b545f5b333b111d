"""Validate objects against the real CRD schemas vendored in tests/crds (see SOURCES.md there): OpenAPI, required fields,
no unknown fields (Kubernetes would silently prune them), and the CRDs' CEL rules (celpy)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import celpy
import jsonschema
import yaml
from celpy import celtypes

from function import kinds, render, xrds

ROOT = Path(__file__).resolve().parent.parent
CRD_DIR = Path(__file__).resolve().parent / "crds"


@functools.cache
def _index() -> dict[tuple[str, str], dict]:
    out = {}
    for path in sorted(CRD_DIR.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = doc["spec"]["group"], doc["spec"]["names"]["kind"]
            for v in doc["spec"]["versions"]:
                out[(f"{group}/{v['name']}", kind)] = v["schema"]["openAPIV3Schema"]
    return out


def schema_for(api_version: str, kind: str) -> dict:
    try:
        return _index()[(api_version, kind)]
    except KeyError:
        raise AssertionError(f"no CRD in tests/crds for {api_version} {kind}") from None


def _strict(schema: Any) -> Any:
    """Objects with declared properties accept nothing else (Kubernetes prunes unknown fields)."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items() if k != "x-kubernetes-validations"}
    if (
        "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@functools.cache
def _validator(api_version: str, kind: str) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(_strict(schema_for(api_version, kind)))


def validate(obj: dict) -> None:
    """Raise AssertionError naming every schema violation and every failed CEL rule."""
    api_version, kind = obj["apiVersion"], obj["kind"]
    obj = render.with_defaults(schema_for(api_version, kind), obj)
    errors = [
        f"{'.'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in _validator(api_version, kind).iter_errors(obj)
    ]
    errors += cel_failures(schema_for(api_version, kind), obj)
    assert not errors, f"{kind} {api_version} does not validate:\n" + "\n".join(errors)


def _split(s: celtypes.StringType, sep: celtypes.StringType) -> celtypes.ListType:
    # Kubernetes' CEL strings library; celpy does not ship it.
    return celtypes.ListType([celtypes.StringType(p) for p in str(s).split(str(sep))])


# The subset of Kubernetes' CEL strings library that the CRDs here use.
K8S_FUNCTIONS = {
    "split": _split,
    "lowerAscii": lambda s: celtypes.StringType(str(s).lower()),
    "upperAscii": lambda s: celtypes.StringType(str(s).upper()),
}
_ENV = celpy.Environment()


@functools.cache
def _program(rule: str):
    return _ENV.program(_ENV.compile(rule), functions=K8S_FUNCTIONS)


def cel_failures(schema: dict, obj: Any, old: Any = None, path: str = "") -> list[str]:
    """Evaluate every x-kubernetes-validations rule that applies to obj (and oldSelf, if given)."""
    out: list[str] = []
    for rule in schema.get("x-kubernetes-validations", []):
        uses_old = "oldSelf" in rule["rule"]
        if uses_old and old is None:
            continue  # transition rules only run on updates
        act = {"self": celpy.json_to_cel(obj)}
        if uses_old:
            act["oldSelf"] = celpy.json_to_cel(old)
        result = _program(rule["rule"]).evaluate(act)
        if result is not True and result != celtypes.BoolType(True):
            out.append(f"{path or '<root>'}: CEL rule failed: {rule.get('message', rule['rule'])}")
    if isinstance(obj, dict):
        for key, sub in (schema.get("properties") or {}).items():
            if key in obj:
                sub_old = old.get(key) if isinstance(old, dict) else None
                out += cel_failures(sub, obj[key], sub_old, f"{path}.{key}")
    return out


@functools.cache
def _status_validator(kind: str) -> jsonschema.Draft7Validator:
    """The status schema of the XRD generated for a claim kind, strict as the API server is."""
    (k,) = [k for k in kinds.KINDS if k.claim == kind]
    (version,) = xrds.xrd(k)["spec"]["versions"]
    return jsonschema.Draft7Validator(
        _strict(version["schema"]["openAPIV3Schema"]["properties"]["status"])
    )


def validate_status(kind: str, status: dict) -> None:
    """Raise AssertionError naming every field of a composite's status that the API server would
    prune (an unknown field) or refuse (a wrong type) under the generated XRD of its kind."""
    errors = sorted(
        f"{'.'.join(['status', *(str(p) for p in e.absolute_path)])}: {e.message}"
        for e in _status_validator(kind).iter_errors(status)
    )
    assert not errors, f"{kind} status does not match its XRD:\n" + "\n".join(errors)
