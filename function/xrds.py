"""XRDs, Compositions and the Input CRD, generated from the pydantic models (one source of truth).

`python -m function.generate` writes them to xrds/, compositions/ and package/input/; a test fails
when the committed files differ from what this module produces.
"""

from __future__ import annotations

from function import inputs, naming, openapi
from function.kinds import Kind

GROUP = naming.GROUP
VERSION = naming.VERSION
FUNCTION_NAME = "function-rds"
CATEGORIES = ["klutch", "rds"]


def xrd(kind: Kind, namespaced: bool = False) -> dict:
    """The LegacyCluster XRD (with claims), or the Crossplane v2 Namespaced one."""
    spec = openapi.structural(kind.spec)
    if kind.rules:
        spec["x-kubernetes-validations"] = [dict(r) for r in kind.rules]
    if namespaced:
        if kind.connection_keys:
            # v2 XRs have no connection details: the binding names its Secret here instead.
            spec["properties"]["writeConnectionSecretToRef"] = {
                "type": "object",
                "description": "Name of the Secret with the credentials; default <name>-creds.",
                "properties": {"name": {"type": "string", "maxLength": 253}},
            }
        return _namespaced_xrd(kind, spec)
    extra = {"connectionSecretKeys": list(kind.connection_keys)} if kind.connection_keys else {}
    return {
        "apiVersion": "apiextensions.crossplane.io/v1",
        "kind": "CompositeResourceDefinition",
        "metadata": {"name": kind.xrd_name},
        "spec": {
            "scope": "LegacyCluster",
            "group": GROUP,
            "names": {
                "kind": kind.composite,
                "plural": kind.composite_plural,
                "categories": CATEGORIES,
            },
            "claimNames": {"kind": kind.claim, "plural": kind.plural, "categories": CATEGORIES},
            "defaultCompositionRef": {"name": kind.xrd_name},
            **extra,
            "versions": _versions(kind, spec),
        },
    }


def _versions(kind: Kind, spec: dict) -> list[dict]:
    return [
        {
            "name": VERSION,
            "served": True,
            "referenceable": True,
            "additionalPrinterColumns": [dict(c) for c in kind.columns],
            "schema": {
                "openAPIV3Schema": {
                    "type": "object",
                    "required": ["spec"],
                    "properties": {"spec": spec, "status": openapi.structural(kind.status)},
                }
            },
        }
    ]


def _namespaced_xrd(kind: Kind, spec: dict) -> dict:
    return {
        "apiVersion": "apiextensions.crossplane.io/v2",
        "kind": "CompositeResourceDefinition",
        "metadata": {"name": f"{kind.plural}.{GROUP}"},
        "spec": {
            "scope": "Namespaced",
            "group": GROUP,
            "names": {"kind": kind.claim, "plural": kind.plural, "categories": CATEGORIES},
            "defaultCompositionRef": {"name": f"{kind.plural}.{GROUP}"},
            "versions": _versions(kind, spec),
        },
    }


def composition(kind: Kind, platform: dict, namespaced: bool = False) -> dict:
    """The Composition of one kind, its function step carrying the platform's Input as written
    (validated here too, so that no Composition is ever made from an Input the function refuses)."""
    parsed = inputs.Input.model_validate(platform)
    name = f"{kind.plural}.{GROUP}" if namespaced else kind.xrd_name
    spec: dict = {
        "compositeTypeRef": {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": kind.claim if namespaced else kind.composite,
        },
        "mode": "Pipeline",
        "pipeline": [
            {
                "step": "rds",
                "functionRef": {"name": FUNCTION_NAME},
                "input": platform,
            }
        ],
    }
    if not namespaced:
        # A LegacyCluster XR gets its writeConnectionSecretToRef only from here: without it the
        # XR publishes no connection details and a claim's Secret is never written.
        spec["writeConnectionSecretsToNamespace"] = parsed.secretNamespace
    return {
        "apiVersion": "apiextensions.crossplane.io/v1",
        "kind": "Composition",
        "metadata": {"name": name, "labels": {"provider": "aws"}},
        "spec": spec,
    }


def input_crd() -> dict:
    schema = openapi.structural(inputs.Input)
    schema["properties"]["apiVersion"] = {"type": "string"}
    schema["properties"]["kind"] = {"type": "string"}
    schema["properties"]["metadata"] = {"type": "object"}
    group = inputs.API_VERSION.split("/")[0]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"inputs.{group}"},
        "spec": {
            "group": group,
            "names": {
                "kind": "Input",
                "listKind": "InputList",
                "plural": "inputs",
                "singular": "input",
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": inputs.API_VERSION.split("/")[1],
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }
