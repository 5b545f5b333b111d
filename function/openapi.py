"""Turn a pydantic model into a Kubernetes structural OpenAPI v3 schema.

The pydantic models in inputs.py and specs.py are the one source of truth: the function validates
with them, and the Input CRD and the XRDs are generated from them by this module.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

# Keys pydantic emits that a structural schema must not (or need not) carry.
_DROP = {"title", "$defs", "discriminator"}


def structural(model: type[BaseModel]) -> dict[str, Any]:
    raw = model.model_json_schema(mode="validation")
    return _convert(raw, raw.get("$defs", {}))


def _convert(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_convert(n, defs) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _convert(merged, defs)
    if "anyOf" in node:
        # Optional[X] is anyOf [X, null]: Kubernetes has no null type, absence means "not set".
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        if len(options) == 1:
            merged = {**options[0], **{k: v for k, v in node.items() if k != "anyOf"}}
            return _convert(merged, defs)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP or (key == "default" and value is None):
            continue
        if key == "additionalProperties" and value is False:
            continue  # pruning of unknown fields does this in Kubernetes
        if key == "properties":
            out[key] = {k: _convert(v, defs) for k, v in value.items()}
        else:
            out[key] = _convert(value, defs)
    if out.get("enum") and "type" not in out:
        out["type"] = "string"
    return out
