"""The floor: a no-op function on the same SDK runtime, answering `response.to(req)`."""

from __future__ import annotations

import click
from crossplane.function import cli as sdkcli
from crossplane.function import response
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1


class NoOp(grpcv1.FunctionRunnerServiceServicer):
    async def RunFunction(self, req, _context):  # noqa: N802 (gRPC method name)
        return response.to(req)


@click.command()
@sdkcli.standard_options
def main(**kwargs) -> None:
    sdkcli.run(NoOp(), **kwargs)


if __name__ == "__main__":
    main()
