"""The gRPC entry point: validates the platform Input and routes by composite kind."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import grpc
from crossplane.function import logging, response
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1
from pydantic import ValidationError

from function import backup, binding, inputs, instance, restore
from function.request import Request, load

Handler = Callable[[Request, fnv1.RunFunctionResponse], None]

# Keyed by the claim/namespaced kind; cluster-mode composites carry an "X" prefix.
ROUTES: dict[str, Handler] = {
    "PostgresqlInstance": instance.run,
    "MysqlInstance": instance.run,
    "MariadbInstance": instance.run,
    "ServiceBinding": binding.run,
    "Backup": backup.run,
    "Restore": restore.run,
}


class FunctionRunner(grpcv1.FunctionRunnerServiceServicer):
    def __init__(self, memo_size: int = 1024) -> None:
        self.log = logging.get_logger()
        # The function is pure: the same request always gets the same response. Crossplane sends
        # the same request again on every poll of an object that has not changed.
        self.memo: OrderedDict[bytes, bytes] = OrderedDict()
        self.memo_size = memo_size

    async def RunFunction(  # noqa: N802 (gRPC method name)
        self, req: fnv1.RunFunctionRequest, _: grpc.aio.ServicerContext | None = None
    ) -> fnv1.RunFunctionResponse:
        # Exact bytes first (cheap); then without volatile metadata (a status write elsewhere
        # bumped a resourceVersion, but the question is the same).
        exact = req.SerializeToString(deterministic=True)
        remembered = self._recall(exact)
        if remembered is None:
            normalized = memo_key(req)
            remembered = self._recall(normalized)
            if remembered is not None:
                self._remember(exact, remembered)
        if remembered is not None:
            return fnv1.RunFunctionResponse.FromString(remembered)
        # Answer with the canonical form, so that a fresh and a remembered answer are the same
        # bytes on the wire (map order in a built message depends on how it was built).
        canonical = run(req, self.log).SerializeToString(deterministic=True)
        rsp = fnv1.RunFunctionResponse.FromString(canonical)
        if not any(r.severity == fnv1.SEVERITY_FATAL for r in rsp.results):
            self._remember(exact, canonical)
            self._remember(normalized, canonical)
        return rsp

    def _recall(self, key: bytes) -> bytes | None:
        if key in self.memo:
            self.memo.move_to_end(key)
            return self.memo[key]
        return None

    def _remember(self, key: bytes, answer: bytes) -> None:
        self.memo[key] = answer
        if len(self.memo) > self.memo_size:
            self.memo.popitem(last=False)


# Metadata that changes on every write but never changes what the function answers.
_VOLATILE = ("resourceVersion", "managedFields", "generation")


def memo_key(req: fnv1.RunFunctionRequest) -> bytes:
    """The request without volatile metadata: a status write elsewhere is not a new question."""
    key = fnv1.RunFunctionRequest()
    key.CopyFrom(req)
    structs_with_metadata = [key.observed.composite.resource]
    structs_with_metadata += [r.resource for r in key.observed.resources.values()]
    for s in structs_with_metadata:
        if "metadata" in s.fields:
            meta = s.fields["metadata"].struct_value
            for field in _VOLATILE:
                if field in meta.fields:
                    del meta.fields[field]
    return key.SerializeToString(deterministic=True)


def run(req: fnv1.RunFunctionRequest, log) -> fnv1.RunFunctionResponse:
    rsp = response.to(req)
    fields = req.observed.composite.resource.fields
    kind = fields["kind"].string_value if "kind" in fields else ""
    handler = ROUTES.get(str(kind).removeprefix("X"))
    if handler is None:
        response.fatal(
            rsp,
            f'cannot compose kind "{kind}": not served by function-rds; allowed: '
            + ", ".join(sorted(ROUTES)),
        )
        return rsp
    try:
        raw = req.input.SerializeToString(deterministic=True) if req.HasField("input") else b""
        inp, cat = inputs.parse(raw)
    except ValidationError as err:
        msg = "; ".join(inputs.describe_errors(err, "input"))
        log.info("invalid function input", kind=kind, problems=msg)
        response.fatal(rsp, f"cannot use the function input of this Composition step: {msg}")
        return rsp
    engine = instance.ENGINE_OF_KIND.get(str(kind).removeprefix("X"))
    if engine is not None and not cat.version_names(engine):
        # A catalog without this engine's versions refuses every developer: the platform's error.
        response.fatal(
            rsp,
            "cannot use the function input of this Composition step: input.catalog.versions."
            f"{engine}: no {engine} versions are offered, so every {kind.removeprefix('X')} "
            f'would be refused; allowed: at least one {engine} version, or catalog mode "extend"',
        )
        return rsp
    try:
        r = load(req, inp, cat)
        handler(r, rsp)
    except Exception as exc:  # never let a bug turn into a gRPC error or a deleted resource
        # The type and the place only: an exception's text may carry values from the request.
        tb = exc.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb else "?"
        log.error("internal error", kind=kind, error_type=type(exc).__name__, where=where)
        rsp = response.to(req)
        # A fatal result makes Crossplane apply nothing this reconcile: nothing is deleted.
        response.fatal(
            rsp,
            f"cannot compose {kind.removeprefix('X')}: internal error ({type(exc).__name__}); "
            "nothing was changed, please report this",
        )
        return rsp
    if not rsp.desired.resources:
        # Crossplane counts a composite with nothing composed as ready; it is not.
        rsp.desired.composite.ready = fnv1.READY_FALSE
    warnings = sorted({res.reason for res in rsp.results if res.severity == fnv1.SEVERITY_WARNING})
    if warnings:
        log.info("reported", kind=kind, name=r.name, reasons=warnings)
    log.debug(
        "composed",
        kind=kind,
        name=r.name,
        resources=sorted(rsp.desired.resources),
        warnings=len(rsp.results),
    )
    return rsp
