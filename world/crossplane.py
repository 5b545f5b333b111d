"""Crossplane, as the world plays it (cluster mode: claims and their composites).

Each rule is the real controller's, read from crossplane/crossplane (v1.20 / v2):
- the API server admits a claim only if it passes the XRD schema and its CEL rules, with `oldSelf`
  the stored spec (transition rules compare with what was stored, not with what runs);
- claim -> XR: claim-only fields stripped, labels copied (claim/syncer_ssa.go); the XR gets a
  `writeConnectionSecretToRef` only from the Composition's `writeConnectionSecretsToNamespace`
  (composite/api.go, APIConfigurator);
- composite reconcile: one RunFunctionRequest per pipeline step over real gRPC, with required
  resources fetched until the requirements settle (xfn FetchingFunctionRunner, at most 5 rounds);
- composed resources are server-side applied with forced ownership; observed resources the
  function leaves out are deleted (unless a Usage holds them);
- conditions the function returns are set by type; a condition it stops returning is never
  removed (composite/reconciler.go); on a fatal result the types it did not see become Unknown;
- the XR status is server-side applied: a field the function leaves out disappears, and a field
  the XRD's status schema does not declare is pruned (apiextensions-apiserver pruning);
- connection details: desired composite details -> the XR's Secret -> the claim's Secret
  (claim/connection.go), only where the XR has a writeConnectionSecretToRef.
"""

from __future__ import annotations

import base64
import copy
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import jsonschema
import yaml
from crossplane.function import resource
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1

from function import naming, render
from tests import crds
from world.store import Key, Store, key_of

ROOT = Path(__file__).resolve().parent.parent
MANAGER_COMPOSED = "apiextensions.crossplane.io/composed"
MANAGER_STATUS = "apiextensions.crossplane.io/composite"
MANAGER_CLAIM = "apiextensions.crossplane.io/claim"
RESOURCE_NAME = naming.COMPOSITION_RESOURCE_NAME
COMPOSITE_LABEL = "crossplane.io/composite"
# claim/syncer_ssa.go: these stay on the claim, never reach the composite.
CLAIM_ONLY = ("writeConnectionSecretToRef", "compositeDeletePolicy", "resourceRef")
CROSSPLANE_CLAIM_FIELDS = (
    *CLAIM_ONLY, "crossplane", "compositionRef", "compositionSelector", "compositionRevisionRef",
    "compositionUpdatePolicy", "compositionRevisionSelector", "publishConnectionDetailsTo",
)  # fmt: skip
MAX_REQUIREMENT_ROUNDS = 5
_STATUS = {fnv1.STATUS_CONDITION_TRUE: "True", fnv1.STATUS_CONDITION_FALSE: "False"}
_SYSTEM = {"Ready", "Synced", "Healthy"}


class Refused(Exception):  # noqa: N818 (what kubectl reports)
    """The API server refused a write (schema or CEL); the stored object is unchanged."""


@dataclass
class Event:
    object: str
    severity: str
    reason: str
    message: str


@dataclass
class Crossplane:
    store: Store
    address: str
    compositions: dict[str, dict] = field(default_factory=dict)  # composite kind -> Composition
    xrds: dict[str, dict] = field(default_factory=dict)  # claim kind -> XRD
    events: list[Event] = field(default_factory=list)
    calls: int = 0  # gRPC calls made, for the timeline
    # v2 namespaced mode: developers apply the namespaced composites themselves (no claims).
    namespaced: bool = False

    @classmethod
    def load(cls, store: Store, address: str, namespaced: bool = False) -> Crossplane:
        cp = cls(store, address, namespaced=namespaced)
        sub = "namespaced/" if namespaced else ""
        for path in sorted((ROOT / "compositions").glob(f"{sub}*.yaml")):
            for doc in yaml.safe_load_all(path.read_text()):
                if doc and doc.get("kind") == "Composition":
                    cp.compositions[doc["spec"]["compositeTypeRef"]["kind"]] = doc
        for path in sorted((ROOT / "xrds").glob(f"{sub}*.yaml")):
            for doc in yaml.safe_load_all(path.read_text()):
                if doc and doc.get("kind") == "CompositeResourceDefinition":
                    names = doc["spec"].get("claimNames") or doc["spec"]["names"]
                    cp.xrds[names["kind"]] = doc
        return cp

    # --- the API server -------------------------------------------------------------------
    def _schema(self, obj: dict) -> dict:
        xrd = self.xrds[obj["kind"]]
        version = obj["apiVersion"].rsplit("/", 1)[-1]
        (v,) = [v for v in xrd["spec"]["versions"] if v["name"] == version]
        return v["schema"]["openAPIV3Schema"]

    def _status_schema(self, xr: dict) -> dict:
        (xrd,) = [x for x in self.xrds.values() if x["spec"]["names"]["kind"] == xr["kind"]]
        version = xr["apiVersion"].rsplit("/", 1)[-1]
        (v,) = [v for v in xrd["spec"]["versions"] if v["name"] == version]
        return v["schema"]["openAPIV3Schema"]["properties"]["status"]

    def apply_claim(self, claim: dict) -> dict:
        """kubectl apply of a claim: admitted (with defaults) or Refused with the API's message."""
        schema = self._schema(claim)
        claim = render.with_defaults(schema, copy.deepcopy(claim))
        # Crossplane adds its own fields to the claim CRD (writeConnectionSecretToRef, ...):
        # the XRD's schema is checked on the rest.
        own = {k: v for k, v in claim["spec"].items() if k not in CROSSPLANE_CLAIM_FIELDS}
        errors = [
            f"{'.'.join(str(p) for p in e.absolute_path)}: {e.message}"
            for e in jsonschema.Draft7Validator(crds._strict(schema)).iter_errors({"spec": own})
        ]
        stored = self.store.get(key_of(claim))
        old = stored if stored is not None else None
        errors += crds.cel_failures(schema, {"spec": claim["spec"]}, old and {"spec": old["spec"]})
        if errors:
            raise Refused("; ".join(errors))
        if stored is not None:
            claim["metadata"] = {**stored["metadata"], **claim["metadata"]}
            claim["status"] = stored.get("status", {})
        self.store.update(claim, "kubectl", "spec applied")
        return claim

    def delete_claim(self, kind: str, namespace: str, name: str) -> None:
        """kubectl delete of a claim: the claim and its composite go once nothing holds them.
        The Usage webhook (internal/webhook/protection/usage/handler.go) refuses the deletion of
        a namespaced XR that any Usage holds: the XR stays as it is (no deletionTimestamp) and
        records the attempt (usage.crossplane.io/deletion-attempt-with-policy), which a Usage
        with replayDeletion replays once it goes (protection/usage/reconciler.go)."""
        claim = self.store.get(("rds.aws.anynines.com/v1", kind, namespace, name))
        if claim is None:
            raise KeyError(name)
        if self.namespaced:
            usages = self._usages_of(key_of(claim))
            if usages:
                spec = usages[0]["spec"]
                why = spec.get("reason") or f"in use by Usage {usages[0]['metadata']['name']}"
                self.events.append(Event(_ref(claim), "Warning", "DeletionBlocked", why))
                annotations = claim["metadata"].setdefault("annotations", {})
                if annotations.get(DELETION_ATTEMPT) != "Background":
                    annotations[DELETION_ATTEMPT] = "Background"
                    self.store.update(claim, "usage-webhook", "deletion attempt recorded")
                return
        claim["metadata"]["deletionTimestamp"] = self.store.clock.stamp()
        self.store.update(claim, "kubectl", "deleting")

    def _finish_deletion(self, claim: dict, xr_key: Key) -> None:
        """Foreground deletion: composed resources first (a Usage of the composite holds it),
        then the composite, then the claim."""
        xr = self.store.get(xr_key)
        if xr is not None:
            for usage in self._usages_of(xr_key):
                self.events.append(
                    Event(
                        _ref(xr),
                        "Warning",
                        "DeletionBlocked",
                        usage["spec"].get("reason")
                        or f"in use by Usage {usage['metadata']['name']}",
                    )
                )
                # The webhook refused the composite's deletion: it is reconciled as before,
                # and the claim's controller tries again.
                self._reconcile_composite(xr)
                if key_of(claim) != xr_key:
                    self._sync_claim_status(claim, self.store.get(xr_key) or xr)
                return
            observed = self._observed(xr)
            for obj in observed.values():
                self.delete(key_of(obj), f"{_ref(xr)} is being deleted")
            if observed:
                return
            self.store.delete(xr_key, "garbage-collector")
        self.store.delete(key_of(claim), MANAGER_CLAIM)

    def _usages_of(self, key: Key) -> list[dict]:
        return [
            u
            for u in self.store.list(kind="Usage")
            if ((u.get("spec") or {}).get("of") or {}).get("resourceRef", {}).get("name") == key[3]
            and (u.get("spec") or {}).get("of", {}).get("kind") == key[1]
        ]

    # --- controllers ----------------------------------------------------------------------
    def claims(self) -> list[dict]:
        return [o for o in self.store.objects.values() if o["kind"] in self.xrds]

    def reconcile(self) -> None:
        self._release_usages()
        for claim in sorted(self.claims(), key=key_of):
            if self.namespaced:
                self._reconcile_namespaced(claim)
                continue
            if claim["metadata"].get("deletionTimestamp"):
                self._finish_deletion(claim, self.composite_of(claim))
                continue
            xr = self._sync_claim(claim)
            self._reconcile_composite(xr)
            self._sync_claim_status(claim, xr)

    def _reconcile_namespaced(self, xr: dict) -> None:
        if xr["metadata"].get("deletionTimestamp"):
            self._finish_deletion(xr, key_of(xr))
        else:
            self._reconcile_composite(xr)

    def composite_of(self, claim: dict) -> Key:
        ref_kind = f"X{claim['kind']}"
        xr = render.claim_to_composite(claim, ref_kind)
        return (claim["apiVersion"], ref_kind, "", xr["metadata"]["name"])

    def _sync_claim(self, claim: dict) -> dict:
        comp = self.compositions[f"X{claim['kind']}"]
        xr = render.claim_to_composite(claim, f"X{claim['kind']}")
        for f in CLAIM_ONLY:
            xr["spec"].pop(f, None)
        xr["metadata"]["labels"] = {
            **(claim["metadata"].get("labels") or {}),
            **xr["metadata"]["labels"],
        }
        xr["spec"]["compositionRef"] = {"name": comp["metadata"]["name"]}
        existing = self.store.get(key_of(xr))
        ns = comp["spec"].get("writeConnectionSecretsToNamespace")
        if ns and existing is not None:
            # composite/api.go: named after the XR's uid, in the Composition's namespace.
            xr["spec"]["writeConnectionSecretToRef"] = {
                "name": existing["metadata"]["uid"],
                "namespace": ns,
            }
        self.store.apply(xr, MANAGER_CLAIM, "synced from claim")
        return self.store.get(key_of(xr)) or xr

    def _observed(self, xr: dict) -> dict[str, dict]:
        name = xr["metadata"]["name"]
        out = {}
        for obj in self.store.objects.values():
            meta = obj.get("metadata") or {}
            mine = (meta.get("labels") or {}).get(COMPOSITE_LABEL) == name and (
                not self.namespaced or meta.get("namespace") == xr["metadata"]["namespace"]
            )
            if mine and RESOURCE_NAME in (meta.get("annotations") or {}):
                out[meta["annotations"][RESOURCE_NAME]] = copy.deepcopy(obj)
        return out

    def _connection_details(self, obj: dict) -> dict[str, str]:
        ref = (obj.get("spec") or {}).get("writeConnectionSecretToRef")
        if not ref:
            return {}
        # A namespaced managed resource writes its Secret in its own namespace.
        ns = ref.get("namespace") or obj["metadata"].get("namespace", "")
        secret = self.store.get(("v1", "Secret", ns, ref["name"]))
        return decode((secret or {}).get("data") or {})

    def _request(self, xr: dict, observed: dict[str, dict], step: dict) -> fnv1.RunFunctionRequest:
        req = fnv1.RunFunctionRequest(
            meta=fnv1.RequestMeta(capabilities=render.CAPABILITIES),
        )
        req.observed.composite.resource.CopyFrom(resource.dict_to_struct(xr))
        for k, v in self._connection_details(xr).items():
            req.observed.composite.connection_details[k] = v.encode()
        for name, obj in observed.items():
            req.observed.resources[name].resource.CopyFrom(resource.dict_to_struct(obj))
            for k, v in self._connection_details(obj).items():
                req.observed.resources[name].connection_details[k] = v.encode()
        if step.get("input") is not None:
            req.input.CopyFrom(resource.dict_to_struct(step["input"]))
        return req

    def _run(self, req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
        # Read only (render._select), and nothing is written while the function runs.
        pool = list(self.store.objects.values())
        previous = None
        with grpc.insecure_channel(self.address) as channel:
            stub = grpcv1.FunctionRunnerServiceStub(channel)
            for _ in range(MAX_REQUIREMENT_ROUNDS + 1):
                # internal/xfn: meta.tag is a hash of the whole request (without the tag).
                req.meta.ClearField("tag")
                req.meta.tag = hashlib.sha256(req.SerializeToString(deterministic=True)).hexdigest()
                self.calls += 1
                rsp = stub.RunFunction(req, timeout=30, wait_for_ready=True)
                if any(r.severity == fnv1.SEVERITY_FATAL for r in rsp.results):
                    return rsp
                if rsp.requirements == (previous or fnv1.Requirements()):
                    return rsp
                previous = rsp.requirements
                req.ClearField("required_resources")
                for name, sel in rsp.requirements.resources.items():
                    req.required_resources[name].CopyFrom(render._select(pool, sel))
                req.context.CopyFrom(rsp.context)
        raise AssertionError("requirements didn't stabilize after 5 iterations")

    def _reconcile_composite(self, xr: dict) -> None:
        comp = self.compositions[xr["kind"]]
        observed = self._observed(xr)
        desired = fnv1.State()
        conditions: list[fnv1.Condition] = []
        fatal = None
        for step in comp["spec"]["pipeline"]:
            req = self._request(xr, observed, step)
            req.desired.CopyFrom(desired)
            rsp = self._run(req)
            for r in rsp.results:
                sev = fnv1.Severity.Name(r.severity).removeprefix("SEVERITY_").title()
                self.events.append(Event(_ref(xr), sev, r.reason, r.message))
                if r.severity == fnv1.SEVERITY_FATAL:
                    fatal = r.message
            conditions.extend(rsp.conditions)
            desired = rsp.desired
            if fatal:
                break
        if fatal:
            self._set_conditions(
                xr,
                [_cond("Synced", "False", "ReconcileError", f"pipeline fatal: {fatal}")],
                unknown_others=True,
                status=None,
            )
            return
        names = self._apply_composed(xr, desired, observed)
        ready = _composite_ready(desired, {n: self.store.get(k) for n, k in names.items()})
        conds = [_cond("Synced", "True", "ReconcileSuccess"), ready]
        conds += [
            _cond(c.type, _STATUS.get(c.status, "Unknown"), c.reason, c.message)
            for c in conditions
            if c.type not in _SYSTEM
        ]
        status = resource.struct_to_dict(desired.composite.resource).get("status") or {}
        self._set_conditions(xr, conds, unknown_others=False, status=status)
        self._publish(xr, {k: v.decode() for k, v in desired.composite.connection_details.items()})

    def _apply_composed(
        self, xr: dict, desired: fnv1.State, observed: dict[str, dict]
    ) -> dict[str, Key]:
        meta = xr["metadata"]
        labels = meta.get("labels") or {}
        out: dict[str, Key] = {}
        for name in sorted(desired.resources):
            body = resource.struct_to_dict(desired.resources[name].resource)
            m = dict(body.get("metadata") or {})
            seen = (observed.get(name) or {}).get("metadata") or {}
            if seen.get("name"):
                m["name"] = seen["name"]
            elif not m.get("name"):
                # internal/names ChildName: deterministic from the XR's uid and the resource name.
                m["name"] = f"{meta['name']}-{naming.digest(meta['uid'], name, length=12)}"
            if self.namespaced:
                m["namespace"] = meta["namespace"]  # a namespaced XR composes in its namespace
            m["annotations"] = {**(m.get("annotations") or {}), RESOURCE_NAME: name}
            m["labels"] = {
                **(m.get("labels") or {}),
                COMPOSITE_LABEL: meta["name"],
                **{k: v for k, v in labels.items() if k.startswith("crossplane.io/claim-")},
            }
            m["ownerReferences"] = [
                {
                    "apiVersion": xr["apiVersion"],
                    "kind": xr["kind"],
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ]
            body["metadata"] = m
            self.store.apply(body, MANAGER_COMPOSED, f"composed {name}")
            out[name] = key_of(body)
        for name, obj in observed.items():
            if name in desired.resources:
                continue
            self.delete(key_of(obj), f"{_ref(xr)} no longer composes {name}")
        return out

    def delete(self, key: Key, why: str) -> None:
        """Delete a composed resource: a Usage holding it blocks; a managed resource keeps its
        finalizer until the provider has deleted (or orphaned) the external resource."""
        obj = self.store.get(key)
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            return
        for usage in self.store.list(kind="Usage"):
            of = (usage.get("spec") or {}).get("of") or {}
            ref = (of.get("resourceRef") or {}).get("name")
            if of.get("kind") == key[1] and ref == key[3]:
                self.events.append(
                    Event(
                        f"{key[1]}/{key[3]}",
                        "Warning",
                        "DeletionBlocked",
                        f"Usage {usage['metadata']['name']} holds it",
                    )
                )
                return
        if ".upbound.io/" in key[0] or ".sql." in key[0] or key[1] == "Usage":
            # A Usage keeps its finalizer until its `by` resource is gone (usage/reconciler.go).
            obj["metadata"]["deletionTimestamp"] = self.store.clock.stamp()
            self.store.update(obj, "garbage-collector", f"deleting ({why})")
        else:
            self.store.delete(key, "garbage-collector")

    def _release_usages(self) -> None:
        """A deleted Usage goes once nothing matches its `by` any more: with
        `matchControllerRef`, a resource of that kind composed by the same composite."""
        for usage in self.store.list(kind="Usage"):
            meta = usage["metadata"]
            if not meta.get("deletionTimestamp"):
                continue
            by = usage["spec"].get("by") or {}
            owner = meta["ownerReferences"][0]["uid"]
            users = [
                o for o in self.store.objects.values()
                if o["kind"] == by.get("kind") and o["apiVersion"] == by.get("apiVersion")
                and any(r["uid"] == owner for r in o["metadata"].get("ownerReferences") or [])
            ]  # fmt: skip
            if not users:
                self.store.delete(key_of(usage), "usage-controller")
                self._replay_deletion(usage)

    def _replay_deletion(self, usage: dict) -> None:
        """A Usage with replayDeletion that goes deletes again what it held, if a deletion of
        it was refused meanwhile (refused again while another Usage holds it)."""
        of = usage["spec"].get("of") or {}
        if not usage["spec"].get("replayDeletion") or not self.namespaced:
            return
        name = (of.get("resourceRef") or {}).get("name")
        namespace = usage["metadata"].get("namespace")
        held = self.store.get((of.get("apiVersion"), of.get("kind"), namespace, name))
        if held is None or held["metadata"].get("deletionTimestamp"):
            return
        if DELETION_ATTEMPT in (held["metadata"].get("annotations") or {}):
            self.delete_claim(held["kind"], namespace, name)

    def _set_conditions(
        self, xr: dict, conds: list[dict], unknown_others: bool, status: dict | None
    ) -> None:
        current = self.store.get(key_of(xr)) or xr
        if status is not None:
            # Crossplane adds `conditions` to the XRD's status schema; the rest is the XRD's.
            status = prune(self._status_schema(xr), status)
        old = {c["type"]: c for c in (current.get("status") or {}).get("conditions") or []}
        merged = dict(old)
        for c in conds:
            prev = old.get(c["type"])
            if prev and prev["status"] == c["status"]:
                c["lastTransitionTime"] = prev.get("lastTransitionTime")
            else:
                c["lastTransitionTime"] = self.store.clock.stamp()
            merged[c["type"]] = c
        if unknown_others:
            seen = {c["type"] for c in conds}
            for t, c in merged.items():
                if t not in seen and t not in _SYSTEM:
                    merged[t] = {**c, "status": "Unknown"}
        body = {
            "apiVersion": xr["apiVersion"],
            "kind": xr["kind"],
            "metadata": {k: v for k, v in xr["metadata"].items() if k in ("name", "namespace")},
            "status": {**(status or {}), "conditions": list(merged.values())},
        }
        if status is None:
            # A fatal result applies no status fields: keep the ones stored.
            kept = {k: v for k, v in (current.get("status") or {}).items() if k != "conditions"}
            body["status"].update(kept)
        self.store.apply(body, MANAGER_STATUS, "status")

    def _publish(self, xr: dict, details: dict[str, str]) -> None:
        ref = (xr.get("spec") or {}).get("writeConnectionSecretToRef")
        if not ref or not details:
            return
        self._write_secret(ref["namespace"], ref["name"], details, "connection details")

    def _write_secret(self, namespace: str, name: str, data: dict[str, str], what: str) -> None:
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace},
            "data": encode(data),
        }
        self.store.apply(secret, MANAGER_STATUS, what)

    def _sync_claim_status(self, claim: dict, xr: dict) -> None:
        xr = self.store.get(key_of(xr)) or xr
        current = self.store.get(key_of(claim)) or claim
        current["status"] = copy.deepcopy(xr.get("status") or {})
        self.store.update(current, MANAGER_CLAIM, "status from composite")
        ref = (claim.get("spec") or {}).get("writeConnectionSecretToRef")
        xr_ref = (xr.get("spec") or {}).get("writeConnectionSecretToRef")
        if ref and xr_ref:
            secret = self.store.get(("v1", "Secret", xr_ref["namespace"], xr_ref["name"]))
            if secret:
                ns = claim["metadata"]["namespace"]
                data = decode(secret["data"])
                self._write_secret(ns, ref["name"], data, "claim connection details")


def encode(data: dict[str, str]) -> dict[str, str]:
    """Secret data as the API server stores it (base64)."""
    return {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}


def decode(data: dict[str, str]) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in data.items()}


DELETION_ATTEMPT = "usage.crossplane.io/deletion-attempt-with-policy"


def _ref(obj: dict) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def prune(schema: dict, value: Any) -> Any:
    """What the API server stores of value under a structural schema: it silently drops every
    field the schema does not declare (apiextensions-apiserver pkg/apiserver/schema/pruning)."""
    if isinstance(value, list):
        return [prune(schema.get("items") or {}, v) for v in value]
    if not isinstance(value, dict) or schema.get("x-kubernetes-preserve-unknown-fields"):
        return value
    props = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        return {k: prune(props.get(k, extra), v) for k, v in value.items()}
    return {k: prune(props[k], v) for k, v in value.items() if k in props}


def _cond(typ: str, status: str, reason: str, message: str = "") -> dict:
    c = {"type": typ, "status": status, "reason": reason}
    if message:
        c["message"] = message
    return c


def is_ready(obj: dict | None) -> bool:
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return c.get("status") == "True"
    return False


def _composite_ready(desired: fnv1.State, composed: dict[str, dict | None]) -> dict:
    """Ready as Crossplane decides it: the function's word where given, else each composed
    resource's Ready condition (kinds without conditions, such as ProviderConfig, count as ready
    only where the function says so)."""
    if desired.composite.ready == fnv1.READY_FALSE:
        return _cond("Ready", "False", "Creating")
    unready = []
    for name, r in desired.resources.items():
        if r.ready == fnv1.READY_TRUE:
            continue
        if r.ready == fnv1.READY_UNSPECIFIED and is_ready(composed.get(name)):
            continue
        unready.append(name)
    if unready and desired.composite.ready != fnv1.READY_TRUE:
        return _cond(
            "Ready", "False", "Creating", f"Unready resources: {', '.join(sorted(unready))}"
        )
    return _cond("Ready", "True", "Available")
