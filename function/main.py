"""The function's command line: serve gRPC (the default, as the package runs it) or render."""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import click
from crossplane.function import cli as sdkcli

from function import fn, generate, kinds, render, server


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
            runner = fn.FunctionRunner()
            # Everything built so far (modules, schemas, the catalog) lives as long as the
            # process: the collector need not walk it again (a full collection took ~17 ms, a
            # tail on the request it fell on).
            gc.freeze()
            server.serve(runner, **kwargs)
        except (OSError, RuntimeError, ValueError) as err:  # e.g. the address is in use
            fail(f"cannot serve on {kwargs['address']}: {err}")


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
    click.echo(f"wrote {len(kinds.KINDS)} Compositions to {output}")


if __name__ == "__main__":
    cli()
