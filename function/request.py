"""What every kind's pipeline reads from one request, gathered once."""

from __future__ import annotations

from dataclasses import dataclass

from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from google.protobuf import struct_pb2

from function import catalog, inputs, mode, naming, resources, specs, structs


@dataclass(frozen=True)
class Request:
    req: fnv1.RunFunctionRequest
    composite: dict  # only what the function reads: see COMPOSITE_FIELDS
    observed: resources.Observed
    input: inputs.Input
    catalog: catalog.Catalog
    mode: mode.Mode

    @property
    def kind(self) -> str:
        return self.composite.get("kind", "")

    @property
    def name(self) -> str:
        return resources.dig(self.composite, "metadata", "name", default="")

    @property
    def uid(self) -> str:
        # `crossplane render` sends no uid; the name then stands in, which is still deterministic.
        return resources.dig(self.composite, "metadata", "uid", default="") or self.name

    @property
    def spec(self) -> dict:
        spec = self.composite.get("spec")
        return spec if isinstance(spec, dict) else {}

    def required(self, name: str) -> list[dict] | None:
        """Resources Crossplane fetched for a requirement; None until it has resolved it."""
        if name not in self.req.required_resources:
            return None
        return [structs.to_dict(i.resource) for i in self.req.required_resources[name].items]

    def connection_details(self, name: str) -> dict[str, str]:
        """Observed connection details of a composed resource. These are secrets: never log them."""
        if name not in self.req.observed.resources:
            return {}
        details = self.req.observed.resources[name].connection_details
        return {k: v.decode("utf-8", errors="replace") for k, v in sorted(details.items())}

    def described(self) -> str:
        """How messages name the object the developer wrote: `PostgresqlInstance "orders"`."""
        return f'{self.kind.removeprefix("X")} "{self.mode.owner_name}"'


# What any kind reads of the composite (mode.detect, the properties above, the platform's
# klutch.io/* annotations). The rest (its status, and metadata such as managedFields or kubectl's
# last-applied annotation, often most of a request's bytes in a cluster) is never read: converting
# it was most of the cost of reading a request.
COMPOSITE_FIELDS = ("apiVersion", "kind")
METADATA_FIELDS = ("name", "namespace", "uid", "labels")
# Crossplane's own spec fields are dropped before a spec is validated (specs.CROSSPLANE_FIELDS);
# resourceRefs alone lists every composed resource. Only the Secret reference is read (binding).
SPEC_NOT_READ = specs.CROSSPLANE_FIELDS - {"writeConnectionSecretToRef"}


def composite_dict(s: struct_pb2.Struct) -> dict:
    """The composite's COMPOSITE_FIELDS, its spec without SPEC_NOT_READ and its metadata's
    METADATA_FIELDS, as a new dict. Not memoised: a composite read here is new (an unchanged
    request is answered from the response cache)."""
    fields = s.fields
    out = {k: structs.value(fields[k]) for k in COMPOSITE_FIELDS if k in fields}
    if "spec" in fields:
        spec = fields["spec"]
        if spec.WhichOneof("kind") == "struct_value":
            sf = spec.struct_value.fields
            out["spec"] = {k: structs.value(v) for k, v in sf.items() if k not in SPEC_NOT_READ}
        else:
            out["spec"] = structs.value(spec)
    if "metadata" in fields:
        meta = fields["metadata"]
        if meta.WhichOneof("kind") == "struct_value":
            mf = meta.struct_value.fields
            out["metadata"] = {k: structs.value(mf[k]) for k in METADATA_FIELDS if k in mf}
            if "annotations" in mf and mf["annotations"].WhichOneof("kind") == "struct_value":
                own = {
                    k: structs.value(v)
                    for k, v in mf["annotations"].struct_value.fields.items()
                    if k.startswith(naming.OWN_PREFIX)
                }
                if own:
                    out["metadata"]["annotations"] = own
        else:
            out["metadata"] = structs.value(meta)
    return out


def load(req: fnv1.RunFunctionRequest, inp: inputs.Input, cat: catalog.Catalog) -> Request:
    composite = composite_dict(req.observed.composite.resource)
    return Request(
        req=req,
        composite=composite,
        observed=resources.observed_resources(req),
        input=inp,
        catalog=cat,
        mode=mode.detect(composite, inp.secretNamespace),
    )
