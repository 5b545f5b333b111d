"""`function-rds render`: what `crossplane render` does, for this function, without Docker.

It starts the function's real gRPC server in a child process, calls it over gRPC exactly like
`crossplane render` does with the Development runtime (same request building, requirements
loop and output format as crossplane/crossplane cmd/crank/render up to v2.2), and prints YAML.
Unlike the Crossplane CLI it also accepts a claim, which it turns into its composite the way
Crossplane's claim controller does.
"""

from __future__ import annotations

import contextlib
import copy
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import yaml
from crossplane.function import resource
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1

from function import naming

RUNTIME = "render.crossplane.io/runtime"
RUNTIME_TARGET = "render.crossplane.io/runtime-development-target"
TRANSITION_TIME = "2024-01-01T00:00:00Z"
MAX_ITERATIONS = 5
OWN_FUNCTION = "function-rds"
_SYSTEM_CONDITIONS = {"Ready", "Synced", "Healthy"}
_STATUS = {
    fnv1.STATUS_CONDITION_TRUE: "True",
    fnv1.STATUS_CONDITION_FALSE: "False",
}
_SEVERITY = {
    fnv1.SEVERITY_NORMAL: "SEVERITY_NORMAL",
    fnv1.SEVERITY_WARNING: "SEVERITY_WARNING",
}


# What Crossplane v2 announces it supports, in every request it sends.
CAPABILITIES = [
    fnv1.CAPABILITY_CAPABILITIES,
    fnv1.CAPABILITY_REQUIRED_RESOURCES,
    fnv1.CAPABILITY_CREDENTIALS,
    fnv1.CAPABILITY_CONDITIONS,
    fnv1.CAPABILITY_REQUIRED_SCHEMAS,
]


class RenderError(Exception):
    """A problem with the inputs or a fatal result; the message is what the CLI prints."""


@dataclass
class Options:
    xr: Path
    composition: Path
    functions: Path
    observed: Path | None = None
    required: list[Path] = field(default_factory=list)
    input: Path | None = None
    include_results: bool = False
    include_full_xr: bool = False
    xrd: Path | None = None
    timeout: float = 60.0


def load_docs(path: Path | None) -> list[dict]:
    """A file is a multi-document stream; a directory is its *.yaml/*.yml files in name order."""
    if path is None:
        return []
    files = (
        sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml"))
        if path.is_dir()
        else [path]
    )
    if path.is_dir() and not files:
        raise RenderError(f'no YAML files found in "{path}" (.yaml or .yml)')
    docs: list[dict] = []
    for f in files:
        docs.extend(_read(f))
    return docs


def _read(path: Path) -> list[dict]:
    """The objects in one YAML file; anything else is a RenderError naming the file."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        why = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise RenderError(f'cannot read "{path}": {why}') from err
    try:
        loaded = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or "cannot be parsed"
        raise RenderError(f'"{path}" is not YAML: {problem}{where}') from err
    for doc in loaded:
        if not isinstance(doc, dict):
            raise RenderError(
                f'"{path}" holds a YAML {type(doc).__name__} where a Kubernetes object (a '
                "mapping with apiVersion and kind) is expected"
            )
    return loaded


def with_defaults(schema: dict, obj):
    """The object with its schema's defaults applied, as the API server would store it."""
    if isinstance(obj, dict):
        out = dict(obj)
        for key, sub in (schema.get("properties") or {}).items():
            if key not in out and "default" in sub:
                out[key] = copy.deepcopy(sub["default"])
            if key in out:
                out[key] = with_defaults(sub, out[key])
        return out
    if isinstance(obj, list) and isinstance(schema.get("items"), dict):
        return [with_defaults(schema["items"], o) for o in obj]
    return obj


def apply_xrd_defaults(xr: dict, xrd_path: Path) -> dict:
    """`--xrd`: the defaults of the XRD version that matches the XR's apiVersion."""
    (xrd,) = load_docs(xrd_path)[:1] or [{}]
    version = str(xr.get("apiVersion", "")).rsplit("/", 1)[-1]
    for v in (xrd.get("spec") or {}).get("versions") or []:
        if v.get("name") == version:
            return with_defaults(v["schema"]["openAPIV3Schema"], xr)
    raise RenderError(f'the XRD in "{xrd_path}" has no version "{version}" for the XR')


def claim_to_composite(claim: dict, composite_kind: str) -> dict:
    """The composite Crossplane's claim controller would create for this claim."""
    meta = claim.get("metadata") or {}
    name, namespace = meta.get("name", ""), meta.get("namespace", "default")
    # Claim-only fields stay on the claim (Crossplane's claim syncer does not copy them).
    spec = {
        k: v
        for k, v in (claim.get("spec") or {}).items()
        if k not in ("compositeDeletePolicy", "resourceRef")
    }
    spec["claimRef"] = {
        "apiVersion": claim.get("apiVersion"),
        "kind": claim.get("kind"),
        "name": name,
        "namespace": namespace,
    }
    return {
        "apiVersion": claim.get("apiVersion"),
        "kind": composite_kind,
        "metadata": {
            # Crossplane adds a random suffix; a hash keeps render deterministic.
            "name": f"{name}-{naming.digest(namespace, name, length=5)}",
            "labels": {
                naming.CLAIM_NAME: name,
                naming.CLAIM_NAMESPACE: namespace,
            },
        },
        "spec": spec,
    }


def _check_composition(xr: dict, comp: dict) -> None:
    if comp.get("kind") != "Composition":
        raise RenderError(f"not a composition: {comp.get('kind')}/{_name(comp)}")
    ref = (comp.get("spec") or {}).get("compositeTypeRef") or {}
    if ref.get("kind") != xr.get("kind"):
        raise RenderError(
            f"composition's compositeTypeRef.kind ({ref.get('kind')}) does not match "
            f"XR's kind ({xr.get('kind')})"
        )
    if ref.get("apiVersion") != xr.get("apiVersion"):
        raise RenderError(
            f"composition's compositeTypeRef.apiVersion ({ref.get('apiVersion')}) does not "
            f"match XR's apiVersion ({xr.get('apiVersion')})"
        )
    if (comp.get("spec") or {}).get("mode") != "Pipeline":
        raise RenderError(
            "render only supports Composition Function pipelines: "
            f'Composition "{_name(comp)}" must use spec.mode: Pipeline'
        )


def _name(obj: dict) -> str:
    return (obj.get("metadata") or {}).get("name", "")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def own_server(timeout: float) -> Iterator[str]:
    """Start this function's real gRPC server in a child process; yield its address."""
    address = f"127.0.0.1:{free_port()}"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "function.main", "--insecure", "--address", address],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        channel = grpc.insecure_channel(address)
        try:
            grpc.channel_ready_future(channel).result(timeout=timeout)
        except grpc.FutureTimeoutError as err:
            proc.kill()
            detail = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise RenderError(f"function-rds did not start: {detail.strip()}") from err
        finally:
            channel.close()
        yield address
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()


def _targets(functions: list[dict], own_address: str) -> dict[str, str]:
    targets = {}
    for fn in functions:
        if fn.get("kind") != "Function" or not str(fn.get("apiVersion", "")).startswith(
            "pkg.crossplane.io/"
        ):
            raise RenderError(f"not a function: {fn.get('kind')}/{_name(fn)}")
        annotations = (fn.get("metadata") or {}).get("annotations") or {}
        runtime = annotations.get(RUNTIME, "Docker")
        if _name(fn) == OWN_FUNCTION:
            targets[_name(fn)] = own_address
        elif runtime == "Development":
            targets[_name(fn)] = annotations.get(RUNTIME_TARGET, "localhost:9443")
        else:
            raise RenderError(
                f'Function "{_name(fn)}" uses the {runtime} runtime; this command runs only '
                "function-rds and Functions with the Development runtime"
            )
    return targets


def _select(pool: list[dict], sel: fnv1.ResourceSelector) -> fnv1.Resources:
    matches = sorted(
        (r for r in pool if r.get("apiVersion") == sel.api_version and r.get("kind") == sel.kind),
        key=_name,
    )
    which = sel.WhichOneof("match")
    if which == "match_name":
        matches = [r for r in matches if _name(r) == sel.match_name][:1]
    elif which == "match_labels":
        want = dict(sel.match_labels.labels)
        matches = [
            r
            for r in matches
            if want.items() <= ((r.get("metadata") or {}).get("labels") or {}).items()
        ]
    return fnv1.Resources(
        items=[fnv1.Resource(resource=resource.dict_to_struct(r)) for r in matches]
    )


def _call(
    stub: grpcv1.FunctionRunnerServiceStub,
    req: fnv1.RunFunctionRequest,
    pool: list[dict],
    step: str,
    timeout: float,
) -> fnv1.RunFunctionResponse:
    """The requirements loop of `crossplane render`: at most six calls until requirements settle."""
    previous: fnv1.Requirements | None = None
    for _ in range(MAX_ITERATIONS + 1):
        rsp = stub.RunFunction(req, timeout=timeout, wait_for_ready=True)
        for r in rsp.results:
            if r.severity == fnv1.SEVERITY_FATAL:
                raise RenderError(
                    "cannot render composite resource: pipeline step "
                    f'"{step}" returned a fatal result: {r.message}'
                )
        if previous is not None and rsp.requirements == previous:
            return rsp
        if previous is None and not rsp.requirements.resources:
            return rsp
        previous = rsp.requirements
        req.ClearField("required_resources")
        for name, sel in rsp.requirements.resources.items():
            req.required_resources[name].CopyFrom(_select(pool, sel))
        req.context.CopyFrom(rsp.context)
    raise RenderError(
        f"requirements didn't stabilize after the maximum number of iterations ({MAX_ITERATIONS})"
    )


def render(opts: Options) -> list[dict]:
    xrs = load_docs(opts.xr)
    if len(xrs) != 1:
        raise RenderError(
            f'"{opts.xr}" holds {len(xrs)} objects; allowed: exactly one composite resource '
            "or claim"
        )
    compositions = load_docs(opts.composition)
    if len(compositions) != 1:
        raise RenderError(f'expected one Composition in "{opts.composition}"')
    comp = compositions[0]
    xr = xrs[0]
    ref_kind = ((comp.get("spec") or {}).get("compositeTypeRef") or {}).get("kind")
    if opts.xrd is not None:
        xr = apply_xrd_defaults(xr, opts.xrd)
    if ref_kind == f"X{xr.get('kind')}":
        xr = claim_to_composite(xr, ref_kind)
    _check_composition(xr, comp)

    observed = {}
    for doc in load_docs(opts.observed):
        annotations = (doc.get("metadata") or {}).get("annotations") or {}
        observed[annotations.get(naming.COMPOSITION_RESOURCE_NAME, "")] = doc
    pool = [d for p in opts.required for d in load_docs(p)]
    override = None
    if opts.input is not None:
        given = load_docs(opts.input)
        if len(given) != 1:
            raise RenderError(
                f'--input "{opts.input}" holds {len(given)} objects; allowed: exactly one Input'
            )
        override = given[0]

    state = fnv1.State(composite=fnv1.Resource(resource=resource.dict_to_struct(xr)))
    for name, doc in observed.items():
        state.resources[name].resource.CopyFrom(resource.dict_to_struct(doc))

    desired = fnv1.State()
    results: list[dict] = []
    conditions: list[dict] = []
    with own_server(opts.timeout) as own:
        targets = _targets(load_docs(opts.functions), own)
        for step in (comp.get("spec") or {}).get("pipeline") or []:
            fn_name = (step.get("functionRef") or {}).get("name", "")
            if fn_name not in targets:
                raise RenderError(
                    f'unknown Function "{fn_name}" - does it exist in your Functions file?'
                )
            req = fnv1.RunFunctionRequest(
                observed=state,
                desired=desired,
                meta=fnv1.RequestMeta(capabilities=CAPABILITIES),
            )
            step_input = (
                override if override is not None and fn_name == OWN_FUNCTION else step.get("input")
            )
            if step_input is not None:
                req.input.CopyFrom(resource.dict_to_struct(step_input))
            with grpc.insecure_channel(targets[fn_name]) as channel:
                rsp = _call(
                    grpcv1.FunctionRunnerServiceStub(channel), req, pool, step["step"], opts.timeout
                )
            desired = rsp.desired
            for r in rsp.results:
                results.append(
                    {
                        "apiVersion": "render.crossplane.io/v1beta1",
                        "kind": "Result",
                        "message": r.message,
                        "severity": _SEVERITY.get(r.severity, "SEVERITY_UNSPECIFIED"),
                        "step": step["step"],
                    }
                )
            conditions.extend(_condition(c) for c in rsp.conditions)
    return _output(xr, comp, desired, observed, conditions, results, opts)


def _condition(c: fnv1.Condition) -> dict:
    out = {
        "type": c.type,
        "status": _STATUS.get(c.status, "Unknown"),
        "reason": c.reason,
        "lastTransitionTime": TRANSITION_TIME,
    }
    if c.HasField("message"):
        out["message"] = c.message
    return out


def _ready_condition(desired: fnv1.State) -> dict:
    cond = {"type": "Ready", "lastTransitionTime": TRANSITION_TIME}
    if desired.composite.ready == fnv1.READY_FALSE:
        return {**cond, "status": "False", "reason": "Creating"}
    unready = sorted(n for n, r in desired.resources.items() if r.ready != fnv1.READY_TRUE)
    if desired.composite.ready == fnv1.READY_UNSPECIFIED and unready:
        if len(unready) > 3:
            names = f"{', '.join(unready[:3])}, and {len(unready) - 3} more"
        elif len(unready) == 3:
            names = f"{unready[0]}, {unready[1]}, and {unready[2]}"
        else:
            names = ", ".join(unready)
        return {
            **cond,
            "status": "False",
            "reason": "Creating",
            "message": f"Unready resources: {names}",
        }
    return {**cond, "status": "True", "reason": "Available"}


def _output(
    xr: dict,
    comp: dict,
    desired: fnv1.State,
    observed: dict[str, dict],
    conditions: list[dict],
    results: list[dict],
    opts: Options,
) -> list[dict]:
    out_xr = resource.struct_to_dict(desired.composite.resource)
    meta = xr.get("metadata") or {}
    out_xr["apiVersion"], out_xr["kind"] = xr.get("apiVersion"), xr.get("kind")
    out_meta = dict(out_xr.get("metadata") or {})
    out_meta["name"] = meta.get("name")
    if meta.get("namespace"):
        out_meta["namespace"] = meta["namespace"]
    out_xr["metadata"] = out_meta
    if opts.include_full_xr:
        out_xr["spec"] = xr.get("spec")
        out_xr["metadata"] = {**meta, **out_meta}
    merged: list[dict] = [_ready_condition(desired)]
    for c in conditions:
        if c["type"] in _SYSTEM_CONDITIONS:
            continue
        merged = [m for m in merged if m["type"] != c["type"]] + [c]
    out_xr.setdefault("status", {})["conditions"] = merged

    labels = meta.get("labels") or {}
    prefix = labels.get(naming.COMPOSITE) or meta.get("name")
    docs = [out_xr]
    for name in sorted(desired.resources):
        body = resource.struct_to_dict(desired.resources[name].resource)
        m = dict(body.get("metadata") or {})
        seen = (observed.get(name) or {}).get("metadata") or {}
        for key in ("name", "namespace", "generateName"):
            if key in seen:
                m[key] = seen[key]
        if "name" not in m and "generateName" not in m:
            m["generateName"] = f"{prefix}-"
        if meta.get("namespace"):
            m["namespace"] = meta["namespace"]
        m["annotations"] = {**(m.get("annotations") or {}), naming.COMPOSITION_RESOURCE_NAME: name}
        new_labels = {**(m.get("labels") or {}), naming.COMPOSITE: prefix}
        if naming.CLAIM_NAME in labels and naming.CLAIM_NAMESPACE in labels:
            new_labels[naming.CLAIM_NAME] = labels[naming.CLAIM_NAME]
            new_labels[naming.CLAIM_NAMESPACE] = labels[naming.CLAIM_NAMESPACE]
        m["labels"] = new_labels
        m["ownerReferences"] = [
            {
                "apiVersion": xr.get("apiVersion"),
                "kind": xr.get("kind"),
                "name": meta.get("name"),
                "uid": meta.get("uid", ""),
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
        body["metadata"] = m
        docs.append(body)
    if opts.include_results:
        docs.extend(results)
    return docs


class _Dumper(yaml.SafeDumper):
    """Kubernetes-style YAML: sorted keys, double quotes where quoting is needed."""

    def ignore_aliases(self, data) -> bool:
        return True

    def choose_scalar_style(self):
        style = super().choose_scalar_style()
        return '"' if style == "'" else style


def _whole_numbers(value):
    """protobuf Structs carry every number as a double; Kubernetes prints 50, not 50.0."""
    if isinstance(value, dict):
        return {k: _whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole_numbers(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def dump(docs: list[dict]) -> str:
    return "".join(
        "---\n"
        + yaml.dump(
            _whole_numbers(d), Dumper=_Dumper, sort_keys=True, default_flow_style=False, width=10**6
        )
        for d in docs
    )
