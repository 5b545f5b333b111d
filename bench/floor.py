"""The floor: a no-op function on the same SDK runtime, answering `response.to(req)`.

With --answers DIR it answers instead with the function's own answer for the composite's kind,
read once from DIR/<kind>.bin: what the size of the answer alone costs on the same runtime (the
SDK server encoding it, the wire, the client decoding it), with none of the function's work.
"""

from __future__ import annotations

from pathlib import Path

import click
from crossplane.function import cli as sdkcli
from crossplane.function import response
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1


class NoOp(grpcv1.FunctionRunnerServiceServicer):
    async def RunFunction(self, req, _context):  # noqa: N802 (gRPC method name)
        return response.to(req)


class Answer(grpcv1.FunctionRunnerServiceServicer):
    def __init__(self, answers: Path) -> None:
        self.answers = {
            p.stem: fnv1.RunFunctionResponse.FromString(p.read_bytes())
            for p in answers.glob("*.bin")
        }

    async def RunFunction(self, req, _context):  # noqa: N802 (gRPC method name)
        return self.answers[req.observed.composite.resource["kind"]]


@click.command()
@sdkcli.standard_options
@click.option(
    "--answers",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    help="Answer with DIR/<kind>.bin instead of response.to(req).",
)
def main(answers: Path | None, **kwargs) -> None:
    sdkcli.run(Answer(answers) if answers else NoOp(), **kwargs)


if __name__ == "__main__":
    main()
