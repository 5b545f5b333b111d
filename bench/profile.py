"""Where a changed request's time goes, in-process (no gRPC): per kind, p50/p99 of `fn.run`
("run") and of the runner with its cache and encoded answer ("wire") over changed requests;
with --profile KIND, the cProfile of that kind. --gap-ms idles between requests as the server
does between one client's requests: the same work then runs on cold caches.

    .venv/bin/python -m bench.profile [--requests 2000] [--profile instance] [--gap-ms 1]
"""

from __future__ import annotations

import cProfile
import pstats
import statistics
import time

import click
from crossplane.function import logging

from bench.requests import build
from bench.run import variants
from function import fn


def drive(coro):
    """The coroutine's result: RunFunction never awaits, so one step finishes it."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    raise RuntimeError("RunFunction awaited")


class InProcess:
    def __init__(self) -> None:
        self.runner = fn.FunctionRunner()

    def RunFunction(self, req, **_: object):  # noqa: N802 (gRPC method name)
        return drive(self.runner.RunFunction(req))


@click.command()
@click.option("--requests", "total", default=2000, show_default=True)
@click.option("--profile", "kind", default=None, help="Profile this kind (cProfile).")
@click.option("--sort", default="cumulative", show_default=True)
@click.option("--lines", default=60, show_default=True)
@click.option("--gap-ms", default=0.0, show_default=True, help="Idle between requests.")
def main(total: int, kind: str | None, sort: str, lines: int, gap_ms: float) -> None:
    logging.configure(logging.Level.INFO)  # as the server runs (sdk cli: no --debug)
    reqs = build(InProcess())
    log = logging.get_logger()
    for name, req in reqs.items():
        if kind and name != kind:
            continue
        batch = variants(req, total, changed=True)
        for r in batch[:50]:  # warm-up
            fn.run(r, log)
        if kind:
            prof = cProfile.Profile()
            prof.enable()
            for r in batch:
                fn.run(r, log)
            prof.disable()
            pstats.Stats(prof).sort_stats(sort).print_stats(lines)
            continue
        runner = fn.FunctionRunner()
        wire = [r.SerializeToString() for r in batch]
        parse = type(req).FromString
        for label, call in (
            ("run", lambda b, parse=parse: fn.run(parse(b), log)),
            ("wire", lambda b, parse=parse, runner=runner: runner.answer(parse(b))),
        ):
            times = []
            cpu = time.process_time()
            for b in wire:
                if gap_ms:
                    time.sleep(gap_ms / 1000)
                t = time.perf_counter()
                call(b)
                times.append(time.perf_counter() - t)
            # CPU time per request: what other processes on a shared machine disturb least.
            cpu = (time.process_time() - cpu) / len(wire)
            q = statistics.quantiles(times, n=100)
            print(
                f"{name:>9} {label:>5} p50 {q[49] * 1e3:.3f} ms  p99 {q[98] * 1e3:.3f} ms  "
                f"cpu {cpu * 1e3:.3f} ms"
            )


if __name__ == "__main__":
    main()
