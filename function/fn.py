"""The gRPC entry point: validates the platform Input and routes by composite kind."""

from __future__ import annotations

import datetime
import hashlib

import grpc
from crossplane.function import logging, response
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1
from pydantic import ValidationError

from function import conditions, inputs, kinds
from function.cache import BytesLru
from function.request import load

# How long Crossplane may keep an answer in its own response cache (alpha, off by default:
# `--enable-function-response-cache`), keyed like ours by the request's tag. The function is pure
# and reads no clock, so any answer stays right for its request; the bound is how long answers of
# an upgraded function's predecessor may still be served after a rollout.
RESPONSE_TTL = datetime.timedelta(minutes=10)

# Crossplane sends the same request again on every poll of an object that has not changed; the
# answer then costs one lookup. Bounded by bytes held (a settled instance answers in ~10 KB).
RESPONSE_CACHE_BYTES = 32 << 20


class FunctionRunner(grpcv1.FunctionRunnerServiceServicer):
    def __init__(self, cache_bytes: int = RESPONSE_CACHE_BYTES) -> None:
        self.log = logging.get_logger()
        self.cache = BytesLru(cache_bytes)

    async def RunFunction(  # noqa: N802 (gRPC method name)
        self, req: fnv1.RunFunctionRequest, _: grpc.aio.ServicerContext | None = None
    ) -> fnv1.RunFunctionResponse:
        """The answer as a message, for callers in this process (the server sends the bytes of
        `answer`, function/server.py). A new message: nothing is shared with another answer."""
        return fnv1.RunFunctionResponse.FromString(self.answer(req))

    def answer(self, req: fnv1.RunFunctionRequest) -> bytes:
        """The answer's deterministic encoding: remembered, or composed now. The same request
        gets the same bytes in any process, sent as they are (function/server.py)."""
        key = request_key(req)
        remembered = self.cache.get(key)
        if remembered is not None:
            return remembered
        answer = run(req, self.log)
        fatal = any(r.severity == fnv1.SEVERITY_FATAL for r in answer.results)
        if fatal:
            # A fatal answer (a bug, a broken Input) is fixed by a new build or Input: neither
            # Crossplane nor we keep it.
            answer.meta.ttl.Clear()
        encoded = answer.SerializeToString(deterministic=True)
        if not fatal:
            self.cache.put(key, encoded)
        return encoded


def request_key(req: fnv1.RunFunctionRequest) -> bytes | str:
    """Crossplane's tag of the request (a hash of all of it); our own hash when it sends none."""
    if req.meta.tag:
        return req.meta.tag
    return hashlib.sha256(req.SerializeToString(deterministic=True)).digest()


def run(req: fnv1.RunFunctionRequest, log) -> fnv1.RunFunctionResponse:
    rsp = response.to(req, ttl=RESPONSE_TTL)
    fields = req.observed.composite.resource.fields
    kind = fields["kind"].string_value if "kind" in fields else ""
    row = kinds.get(str(kind))
    if row is None:
        response.fatal(
            rsp,
            f'cannot compose kind "{kind}": not served by function-rds; allowed: '
            + ", ".join(sorted(k.claim for k in kinds.KINDS)),
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
    engine = row.engine
    if engine is not None and not cat.versions.get(engine):
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
        row.handler(r, rsp)
        kinds.keep_unknown(r, rsp)
        conditions.complete(rsp, row.conditions)
    except Exception as exc:  # never let a bug turn into a gRPC error or a deleted resource
        # The type and the place only: an exception's text may carry values from the request.
        tb = exc.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb else "?"
        log.error("internal error", kind=kind, error_type=type(exc).__name__, where=where)
        rsp = response.to(req, ttl=RESPONSE_TTL)
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
