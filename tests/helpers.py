"""Building requests the way Crossplane does, and reading responses."""

from __future__ import annotations

import copy
import hashlib
import os
import subprocess
from pathlib import Path
from typing import Any

import yaml
from crossplane.function import resource
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from google.protobuf import json_format

from function import engines, kinds, naming, render
from function.conditions import Reason, Type
from tests import crds

ROOT = Path(__file__).resolve().parent.parent
# The gRPC server's debug log (conftest), one per pytest-xdist worker: tests read it for secrets.
SERVER_LOG = ROOT / f".pytest-server{os.environ.get('PYTEST_XDIST_WORKER', '')}.log"
# The platform Input every test starts from: the documented example platform file.
EXAMPLE_INPUT = yaml.safe_load((ROOT / "examples" / "platform.yaml").read_text())

KIND_OF_ENGINE = {name: e.kind for name, e in engines.ENGINES.items()}


def claim(kind: str, spec: dict, name: str = "orders", namespace: str = "team-a") -> dict:
    return {
        "apiVersion": naming.API_VERSION,
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def composite(kind: str, spec: dict, name: str = "orders", namespace: str = "team-a") -> dict:
    """The cluster-mode composite Crossplane makes from a claim (with a uid, as in a cluster)."""
    xr = render.claim_to_composite(claim(kind, spec, name, namespace), f"X{kind}")
    xr["metadata"]["uid"] = "5f1e0c1a-0000-4000-8000-000000000001"
    return xr


def request(
    xr: dict,
    observed: dict[str, dict] | None = None,
    inp: dict | None = None,
    required: dict[str, list[dict]] | None = None,
    connection: dict[str, dict[str, str]] | None = None,
) -> fnv1.RunFunctionRequest:
    req = fnv1.RunFunctionRequest(
        input=resource.dict_to_struct(EXAMPLE_INPUT if inp is None else inp),
    )
    req.observed.composite.resource.update(xr)
    for name, body in (observed or {}).items():
        req.observed.resources[name].resource.update(body)
    for name, details in (connection or {}).items():
        for key, value in details.items():
            req.observed.resources[name].connection_details[key] = value.encode()
    for name, items in (required or {}).items():
        req.required_resources[name].CopyFrom(
            fnv1.Resources(
                items=[fnv1.Resource(resource=resource.dict_to_struct(i)) for i in items]
            )
        )
    return tagged(req)


def tagged(req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionRequest:
    """The request with the tag Crossplane gives it: the SHA-256 of its deterministic encoding
    (crossplane internal/xfn Tag). Call it again after changing a request."""
    req.meta.tag = ""
    req.meta.tag = hashlib.sha256(req.SerializeToString(deterministic=True)).hexdigest()
    return req


def as_dict(rsp: fnv1.RunFunctionResponse) -> dict[str, Any]:
    return json_format.MessageToDict(rsp)


def desired(rsp: fnv1.RunFunctionResponse) -> dict[str, dict]:
    return {n: resource.struct_to_dict(r.resource) for n, r in rsp.desired.resources.items()}


def status(rsp: fnv1.RunFunctionResponse) -> dict:
    return resource.struct_to_dict(rsp.desired.composite.resource).get("status", {})


def conditions(rsp: fnv1.RunFunctionResponse) -> dict[str, fnv1.Condition]:
    return {c.type: c for c in rsp.conditions}


def observed_from(body: dict, ready: bool = True, at_provider: dict | None = None) -> dict:
    """What Crossplane would observe after the provider created the desired body."""
    seen = copy.deepcopy(body)
    seen.setdefault("metadata", {})["name"] = "orders-abcde-xyz12"
    seen["status"] = {
        "atProvider": at_provider or {},
        "conditions": [
            {"type": "Ready", "status": "True" if ready else "False", "reason": "Available"},
            {"type": "Synced", "status": "True", "reason": "ReconcileSuccess"},
        ],
    }
    return seen


def load_yaml(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def resolve_requirements(rsp: fnv1.RunFunctionResponse, pool: list[dict]) -> dict[str, list[dict]]:
    """What Crossplane fetches for the response's requirements from the objects in `pool`."""
    out = {}
    for name, selector in rsp.requirements.resources.items():
        found = render._select(pool, selector)
        out[name] = [resource.struct_to_dict(i.resource) for i in found.items]
    return out


def run(
    stub,
    xr: dict,
    observed: dict[str, dict] | None = None,
    inp: dict | None = None,
    required: dict[str, list[dict]] | None = None,
    connection: dict[str, dict[str, str]] | None = None,
    pool: list[dict] | None = None,
) -> fnv1.RunFunctionResponse:
    """RunFunction on this composite and what is observed. With a `pool`, two calls like
    Crossplane: the first asks for the resources the function requires, the second gets those of
    the pool that match."""
    # Checked here too (cheaply: a status is validated once), whatever stub the test passes.
    req = request(xr, observed, inp, required, connection)
    rsp = check_answer(req, stub.RunFunction(req, timeout=10))
    if pool is None:
        return rsp
    req = request(xr, observed, inp, resolve_requirements(rsp, pool), connection)
    return check_answer(req, stub.RunFunction(req, timeout=10))


def call(stub, xr: dict, pool: list[dict], observed=None, connection=None, inp=None):
    """Two calls, resolving the function's requirements from `pool` (see run)."""
    return run(stub, xr, observed, inp, connection=connection, pool=pool)


# Statuses already validated, by kind and encoding: most tests answer the same few statuses.
_VALID_STATUSES: set[tuple[str, bytes]] = set()


def check_status(req: fnv1.RunFunctionRequest, rsp: fnv1.RunFunctionResponse):
    """rsp, once its desired composite status is known to match the generated XRD of the
    composite's kind: the API server would silently prune an unknown field (and other kinds read
    these), and refuse the whole status for a wrong type. Every answer the test stubs give passes
    here (tests/conftest.py)."""
    fields = req.observed.composite.resource.fields
    kind = fields["kind"].string_value.removeprefix("X") if "kind" in fields else ""
    composite = rsp.desired.composite.resource.fields
    if "status" not in composite or kinds.get(kind) is None:
        return rsp  # nothing to check: no status, or a kind the function refuses
    key = (kind, composite["status"].SerializeToString(deterministic=True))
    if key not in _VALID_STATUSES:
        crds.validate_status(kind, json_format.MessageToDict(composite["status"]))
        _VALID_STATUSES.add(key)
    return rsp


def ready_composite(xr: dict, rsp: fnv1.RunFunctionResponse) -> dict:
    """The composite as Crossplane stores it after this response, all its resources ready."""
    return {
        **xr,
        "status": {
            **status(rsp),
            "conditions": [{"type": "Ready", "status": "True", "reason": "Available"}],
        },
    }


def self_signed(crt: Path, key: Path, common_name: str) -> None:
    """A self-signed certificate (also a CA) valid for two days, with openssl."""
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
         f"/CN={common_name}", "-keyout", str(key), "-out", str(crt)],
        check=True,
        capture_output=True,
    )  # fmt: skip


def check_answer(
    req: fnv1.RunFunctionRequest, rsp: fnv1.RunFunctionResponse
) -> fnv1.RunFunctionResponse:
    """rsp, once it satisfies what every answer the tests see must: its status matches the XRD
    (check_status), and each condition type and each reason of a condition or an event is
    declared (conditions.Type, conditions.Reason, so documented)."""
    check_reasons(rsp)
    return check_status(req, rsp)


def check_reasons(rsp: fnv1.RunFunctionResponse) -> None:
    declared = {r.value for r in Reason}
    for c in rsp.conditions:
        assert c.type in {t.value for t in Type}, f"undeclared condition type {c.type!r}"
        assert c.reason in declared, f"undeclared reason {c.reason!r} of condition {c.type}"
    for r in rsp.results:
        # A fatal result (a broken Input, a bug) carries no reason: Crossplane shows its message.
        if r.severity != fnv1.SEVERITY_FATAL:
            assert r.reason in declared, f"undeclared reason {r.reason!r} of an event"
