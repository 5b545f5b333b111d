"""The gRPC entry point: validates the platform Input and routes by composite kind."""

from __future__ import annotations

from collections.abc import Callable

import grpc
from crossplane.function import logging, response
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1
from google.protobuf import json_format
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
    def __init__(self) -> None:
        self.log = logging.get_logger()

    async def RunFunction(  # noqa: N802 (gRPC method name)
        self, req: fnv1.RunFunctionRequest, _: grpc.aio.ServicerContext | None = None
    ) -> fnv1.RunFunctionResponse:
        return run(req, self.log)


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
        raw = (
            json_format.MessageToJson(req.input, sort_keys=True) if req.HasField("input") else "{}"
        )
        inp, cat = inputs.parse(raw)
    except ValidationError as err:
        msg = "; ".join(inputs.describe_errors(err, "input"))
        log.info("invalid function input", kind=kind, problems=msg)
        response.fatal(rsp, f"cannot use the function input of this Composition step: {msg}")
        return rsp
    r = load(req, inp, cat)
    try:
        handler(r, rsp)
    except Exception as exc:  # never let a bug turn into a gRPC error or a deleted resource
        log.error("internal error", kind=kind, name=r.name, error_type=type(exc).__name__)
        rsp = response.to(req)
        # A fatal result makes Crossplane apply nothing this reconcile: nothing is deleted.
        response.fatal(
            rsp,
            f"cannot compose {r.described()}: internal error ({type(exc).__name__}); "
            "nothing was changed, please report this",
        )
        return rsp
    log.debug(
        "composed",
        kind=kind,
        name=r.name,
        resources=sorted(rsp.desired.resources),
        warnings=len(rsp.results),
    )
    return rsp
