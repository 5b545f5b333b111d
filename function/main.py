"""The function's command line: serve gRPC (the default, as the package runs it) or render."""

from __future__ import annotations

import asyncio
import gc
import signal
import sys
from pathlib import Path

import click
import grpc
import structlog
from crossplane.function import cli as sdkcli
from crossplane.function import logging as fnlog
from crossplane.function import runtime
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.proto.v1beta1 import run_function_pb2_grpc as grpcv1beta1
from grpc_reflection.v1alpha import reflection

from function import fn, generate, render, xrds


@click.group(invoke_without_command=True)
@sdkcli.standard_options
@click.pass_context
def cli(ctx: click.Context, **kwargs) -> None:
    """Serve the function over gRPC (default) or render examples locally (`render`)."""
    if ctx.invoked_subcommand is None:
        problem = serve_problem(kwargs["insecure"], kwargs["tls_certs_dir"])
        if problem:
            fail(problem)
        try:
            serve(fn.FunctionRunner(), **kwargs)
        except (OSError, RuntimeError, ValueError) as err:  # e.g. the address is in use
            fail(f"cannot serve on {kwargs['address']}: {err}")


def serve(
    runner: fn.FunctionRunner,
    *,
    debug: bool,
    address: str,
    tls_certs_dir: str | None,
    insecure: bool,
    max_recv_message_size: int,
    max_send_message_size: int | None,
) -> None:
    """The SDK's server (crossplane.function.cli.run and runtime.serve: same options, services,
    mTLS, reflection and SIGTERM grace), except that v1 RunFunction sends the runner's canonical
    answer bytes as they are: parsing them into a message for gRPC to serialize them again was a
    tenth of a request's time."""
    fnlog.configure(level=fnlog.Level.DEBUG if debug else fnlog.Level.INFO)
    # Configured once, before serving: the runner's logger need not be rebuilt on every call.
    structlog.configure(cache_logger_on_first_use=True)
    mib = 1024 * 1024
    options = [
        ("grpc.max_receive_message_length", max_recv_message_size * mib),
        ("grpc.max_send_message_length", (max_send_message_size or max_recv_message_size) * mib),
    ]
    try:
        loop = asyncio.get_event_loop()
    except RuntimeError:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
    server = grpc.aio.server(options=options)
    loop.add_signal_handler(
        signal.SIGTERM,
        lambda: asyncio.ensure_future(server.stop(grace=runtime.SHUTDOWN_GRACE_PERIOD_SECONDS)),
    )
    service = fnv1.DESCRIPTOR.services_by_name["FunctionRunnerService"].full_name
    handlers = {
        "RunFunction": grpc.unary_unary_rpc_method_handler(
            runner.answer_bytes,
            request_deserializer=fnv1.RunFunctionRequest.FromString,
            response_serializer=_as_is,
        )
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, handlers),))
    server.add_registered_method_handlers(service, handlers)
    grpcv1beta1.add_FunctionRunnerServiceServicer_to_server(
        runtime.BetaFunctionRunner(wrapped=runner), server
    )
    reflection.enable_server_reflection(runtime.SERVICE_NAMES, server)
    if insecure:
        server.add_insecure_port(address)
    else:
        server.add_secure_port(address, runtime.load_credentials(tls_certs_dir))

    # Everything built so far (modules, schemas, the catalog) lives as long as the process: the
    # collector need not walk it again (a full collection took ~17 ms, a tail on one request).
    gc.freeze()

    async def start() -> None:
        await server.start()
        await server.wait_for_termination()

    try:
        loop.run_until_complete(start())
    finally:
        loop.run_until_complete(server.stop(grace=runtime.SHUTDOWN_GRACE_PERIOD_SECONDS))
        loop.close()


def _as_is(answer: bytes) -> bytes:
    return answer


TLS_FILES = ("tls.crt", "tls.key", "ca.crt")


def serve_problem(insecure: bool, tls_certs_dir: str | None) -> str | None:
    """Why the server cannot start with these settings, in one line; None when it can."""
    if insecure:
        return None
    if not tls_certs_dir:
        return (
            "no TLS settings: set TLS_SERVER_CERTS_DIR (or --tls-server-certs-dir) to a "
            f"directory with {', '.join(TLS_FILES)} as Crossplane mounts them, or pass "
            "--insecure to serve without TLS (local use only)"
        )
    missing = [f for f in TLS_FILES if not (Path(tls_certs_dir) / f).is_file()]
    if missing:
        return (
            f'TLS directory "{tls_certs_dir}" has no {", ".join(missing)}; allowed: a '
            f"directory with {', '.join(TLS_FILES)}, or --insecure (local use only)"
        )
    return None


def fail(message: str) -> None:
    """One line on stderr and exit code 1: a user's mistake never shows a traceback."""
    click.echo(f"function-rds: error: {message}", err=True)
    sys.exit(1)


# Files are checked when read (render.load_docs), so that every problem is one line naming it.
_path = click.Path(path_type=Path)


@cli.command("render")
@click.argument("xr", type=_path)
@click.argument("composition", type=_path)
@click.argument("functions", type=_path)
@click.option("-o", "--observed-resources", type=_path, help="File or dir of observed resources.")
@click.option(
    "-e", "--required-resources", type=_path, multiple=True, help="File or dir; repeatable."
)
@click.option("--input", "input_", type=_path, help="Function Input replacing the step's input.")
@click.option("-r", "--include-function-results", is_flag=True, help="Print Result documents.")
@click.option("-x", "--include-full-xr", is_flag=True, help="Print the XR's spec and metadata.")
@click.option("--xrd", type=_path, help="XRD whose defaults are applied to the XR.")
@click.option("--timeout", type=float, default=60.0, show_default=True, help="Seconds.")
def render_cmd(**kw) -> None:
    """Render XR (or claim) through COMPOSITION like `crossplane render`, printing YAML."""
    opts = render.Options(
        xr=kw["xr"],
        composition=kw["composition"],
        functions=kw["functions"],
        observed=kw["observed_resources"],
        required=list(kw["required_resources"]),
        input=kw["input_"],
        include_results=kw["include_function_results"],
        include_full_xr=kw["include_full_xr"],
        xrd=kw["xrd"],
        timeout=kw["timeout"],
    )
    try:
        docs = render.render(opts)
    except render.RenderError as err:
        click.echo(f"crossplane: error: {err}", err=True)
        sys.exit(1)
    except Exception as err:  # a file shaped in a way render does not expect: still one line
        click.echo(f"crossplane: error: cannot render: {type(err).__name__}: {err}", err=True)
        sys.exit(1)
    click.echo(render.dump(docs), nl=False)


@cli.command("compositions")
@click.option(
    "--platform",
    "platform_file",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="The platform file: one Input document (see examples/platform.yaml).",
)
@click.option("--namespaced", is_flag=True, help="Crossplane v2 namespaced XRs instead of claims.")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Directory to write one Composition per kind into (created if missing).",
)
def compositions_cmd(platform_file: Path, namespaced: bool, output: Path) -> None:
    """Write every kind's Composition for the platform described in PLATFORM."""
    try:
        platform = generate.load_platform(platform_file)
    except generate.PlatformError as err:
        click.echo(f"function-rds: error: {err}", err=True)
        sys.exit(1)
    try:
        output.mkdir(parents=True, exist_ok=True)
        for name, text in generate.compositions(platform, namespaced).items():
            (output / name).write_text(text)
    except OSError as err:
        click.echo(f"function-rds: error: {output}: cannot write: {err.strerror}", err=True)
        sys.exit(1)
    click.echo(f"wrote {len(xrds.KINDS)} Compositions to {output}")


if __name__ == "__main__":
    cli()
