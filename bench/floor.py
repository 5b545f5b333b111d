"""The floor: a no-op function on the same SDK runtime, answering `response.to(req)`.

With --answers DIR it answers instead with the function's own answer for the composite's kind,
read once from DIR/<kind>.bin, served as the function serves its answers (function/server.py,
the bytes as they are): what the size of the answer alone costs on the function's runtime (the
wire, the client decoding it), with none of the function's work.
"""

from __future__ import annotations

from pathlib import Path

import click
from crossplane.function import cli as sdkcli
from crossplane.function import response
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1

from function import server


class NoOp(grpcv1.FunctionRunnerServiceServicer):
    async def RunFunction(self, req, _context):  # noqa: N802 (gRPC method name)
        return response.to(req)


class Answer:
    """A server.Answerer that answers with the function's answer for the request's kind."""

    def __init__(self, answers: Path) -> None:
        self.answers = {p.stem: p.read_bytes() for p in answers.glob("*.bin")}

    def answer(self, req: fnv1.RunFunctionRequest) -> bytes:
        return self.answers[req.observed.composite.resource["kind"]]


@click.command()
@sdkcli.standard_options
@click.option(
    "--answers",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    help="Answer with DIR/<kind>.bin instead of response.to(req).",
)
def main(answers: Path | None, **kwargs) -> None:
    if answers:
        server.serve(Answer(answers), **kwargs)
    else:
        sdkcli.run(NoOp(), **kwargs)


if __name__ == "__main__":
    main()
