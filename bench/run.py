"""Benchmark: the function's real gRPC server against the floor (a no-op on the same SDK runtime).

    .venv/bin/python -m bench.run [--requests 400] [--repeat 3] [--json bench/results/latest.json]
    .venv/bin/python -m bench.run --table-from bench/results/latest.json

For each request kind, in steady state (the same request again, as on every poll of an unchanged
object) and with a changed object each time (never sent before), at 1 and 16 concurrent clients:
p50/p99 latency, requests per second and the ratio to the floor, as the median over rounds that
alternate which server goes first (the machine may be shared); for each server: peak RSS and cold
start (process start to first answer). Printed as markdown tables, changed and steady apart.

With a changed object a third server runs beside them: the floor answering with the function's
own answer, pre-built ("answer alone"). It costs what the answer's size costs on the same runtime
and none of the function's work: the part of the gap to the floor that no function giving this
answer can remove.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click
import grpc
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1

from bench.requests import build
from function.render import free_port
from tests.helpers import tagged

ROOT = Path(__file__).resolve().parent.parent
SERVERS = {"function": ["-m", "function.main"], "floor": ["-m", "bench.floor"]}
ANSWER = "answer"  # the floor answering with the function's answer (--answers)


def start(name: str, *args: str) -> tuple[subprocess.Popen, str, float]:
    address = f"127.0.0.1:{free_port()}"
    began = time.perf_counter()
    command = SERVERS[name if name != ANSWER else "floor"]
    proc = subprocess.Popen(
        [sys.executable, *command, "--insecure", "--address", address, *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc, address, began


def cold_start(address: str, began: float, req) -> float:
    with grpc.insecure_channel(address) as channel:
        grpcv1.FunctionRunnerServiceStub(channel).RunFunction(req, wait_for_ready=True, timeout=30)
    return time.perf_counter() - began


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


_sequence = itertools.count()


def variants(req, total: int, changed: bool) -> list:
    """`total` requests: all the same (steady state), or each one with a changed composite,
    never sent before (the sequence runs on across calls: a later run, at another number of
    clients, must not find its requests in the response cache)."""
    if not changed:
        return [req] * total
    out = []
    for _ in range(total):
        i = next(_sequence)
        r = type(req)()
        r.CopyFrom(req)
        # A new annotation each time (a spec field would be refused by the strict schema): a
        # new question that no cache can answer, and all the work of composing done.
        r.observed.composite.resource["metadata"].get_or_create_struct("annotations")[
            "bench/sequence"
        ] = str(i)
        out.append(tagged(r))
    return out


def distinct_large(req, total: int, size: int = 40_000) -> list:
    """`total` distinct requests of about `size` bytes: the composite carries managedFields, as
    objects in a cluster do, with a new entry each time (no cache can answer them)."""
    pad = "f:" + "x" * 200
    entry_bytes = 258  # one managedFields entry below, as encoded in the Struct
    count = max(0, (size - req.ByteSize()) // entry_bytes)
    out = []
    for i in range(total):
        r = type(req)()
        r.CopyFrom(req)
        meta = r.observed.composite.resource["metadata"]
        meta["managedFields"] = [
            {"manager": f"m{i:05d}-{n:03d}", "fieldsV1": {pad: {}}} for n in range(count)
        ]
        out.append(tagged(r))
    return out


WARM_UP = 20


async def drive(address: str, reqs: list, clients: int) -> dict:
    """Send the first WARM_UP requests unmeasured, then the others from `clients` clients."""
    latencies: list[float] = []
    async with grpc.aio.insecure_channel(address) as channel:
        stub = grpcv1.FunctionRunnerServiceStub(channel)
        for req in reqs[:WARM_UP]:
            await stub.RunFunction(req)
        queue = list(reversed(reqs[WARM_UP:]))

        async def client() -> None:
            while queue:
                req = queue.pop()
                t = time.perf_counter()
                await stub.RunFunction(req)
                latencies.append(time.perf_counter() - t)

        began = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - began
    q = statistics.quantiles(latencies, n=100)
    return {"p50_ms": q[49] * 1000, "p99_ms": q[98] * 1000, "rps": len(latencies) / elapsed}


LEVELS = ((False, 1), (False, 16), (True, 1), (True, 16))


@click.command()
@click.option("--requests", "total", default=400, show_default=True, help="Per kind and level.")
@click.option(
    "--repeat",
    default=3,
    show_default=True,
    help="Rounds; each figure is the median over them (ratios are taken within a round).",
)
@click.option("--kind", "only", multiple=True, help="Only these kinds (repeatable).")
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Write results here.")
@click.option(
    "--table-from",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="Only print the tables of results written earlier with --json.",
)
@click.option(
    "--distinct",
    default=0,
    show_default=True,
    help="Then send this many distinct ~40 KB instance requests and report peak RSS.",
)
def main(
    total: int,
    repeat: int,
    only: tuple[str, ...],
    json_path: Path | None,
    table_from: Path | None,
    distinct: int,
) -> None:
    if table_from:
        print_table(json.loads(table_from.read_text()))
        return
    procs = {name: start(name) for name in SERVERS}
    answers = tempfile.TemporaryDirectory(prefix="bench-answers-")
    try:
        with grpc.insecure_channel(procs["function"][1]) as channel:
            grpc.channel_ready_future(channel).result(timeout=30)
            stub = grpcv1.FunctionRunnerServiceStub(channel)
            reqs = build(stub)
            for req in reqs.values():
                kind = req.observed.composite.resource["kind"]
                answer = stub.RunFunction(req).SerializeToString()
                (Path(answers.name) / f"{kind}.bin").write_bytes(answer)
        results: dict = {"servers": {}, "kinds": {}, "repeat": repeat, "requests": total}
        for name, (_, address, began) in procs.items():
            results["servers"][name] = {
                "cold_start_s": cold_start(address, began, reqs["instance"])
            }
        procs[ANSWER] = start(ANSWER, "--answers", answers.name)
        with grpc.insecure_channel(procs[ANSWER][1]) as channel:
            grpc.channel_ready_future(channel).result(timeout=30)
        rounds: dict[tuple[str, str], list[dict]] = {}
        for n in range(repeat):
            # The machine is shared: rounds alternate which server goes first, and a figure is
            # the median over rounds.
            order = list(procs) if n % 2 == 0 else list(reversed(procs))
            for kind, req in reqs.items():
                if only and kind not in only:
                    continue
                for changed, clients in LEVELS:
                    level = f"{'changed' if changed else 'steady'}_{clients}"
                    # The answer alone does not depend on the request: measured once, changed.
                    names = [*order, ANSWER] if changed else order
                    row = {
                        name: asyncio.run(
                            drive(
                                procs[name][1],
                                variants(req, WARM_UP + total, changed),
                                clients,
                            )
                        )
                        for name in names
                    }
                    f, fl = row["function"], row["floor"]
                    row["ratio_p50"] = f["p50_ms"] / fl["p50_ms"]
                    row["ratio_p99"] = f["p99_ms"] / fl["p99_ms"]
                    row["throughput_vs_floor"] = f["rps"] / fl["rps"]
                    if changed:
                        a = row[ANSWER]
                        row["answer_ratio_p50"] = a["p50_ms"] / fl["p50_ms"]
                        row["answer_ratio_p99"] = a["p99_ms"] / fl["p99_ms"]
                        row["answer_throughput_vs_floor"] = a["rps"] / fl["rps"]
                    rounds.setdefault((kind, level), []).append(row)
        for (kind, level), rows in rounds.items():
            results["kinds"].setdefault(kind, {})[level] = median_row(rows)
        for name in SERVERS:
            results["servers"][name]["peak_rss_mb"] = peak_rss_mb(procs[name][0].pid)
        if distinct:
            # Built and sent in batches, so that the client's own memory stays small.
            proc, address, _ = procs["function"]
            for start_at in range(0, distinct, 1000):
                batch = distinct_large(reqs["instance"], min(1000, distinct - start_at))
                asyncio.run(drive(address, batch, 4))
            results["distinct"] = {
                "requests": distinct,
                "bytes_each": batch[0].ByteSize(),
                "peak_rss_mb": peak_rss_mb(proc.pid),
            }
    finally:
        for proc, _, _ in procs.values():
            proc.terminate()
            proc.wait(timeout=10)
        answers.cleanup()
    print_table(results)
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")


def median_row(rows: list[dict]) -> dict:
    """Each figure's median over the rounds, and the spread of the p50 ratio (how noisy)."""
    out: dict = {
        name: {m: statistics.median(r[name][m] for r in rows) for m in rows[0][name]}
        for name in (*SERVERS, ANSWER)
        if name in rows[0]
    }
    for m in RATIOS:
        if m in rows[0]:
            out[m] = statistics.median(r[m] for r in rows)
    out["ratio_p50_range"] = [min(r["ratio_p50"] for r in rows), max(r["ratio_p50"] for r in rows)]
    return out


RATIOS = ("ratio_p50", "ratio_p99", "throughput_vs_floor")
RATIOS += tuple(f"answer_{m}" for m in RATIOS)

# Issue 12's targets for a changed object: latency at one client, throughput at sixteen.
TARGET_P50, TARGET_P99, TARGET_THROUGHPUT = 1.5, 2.0, 0.8

STATES = {
    "changed": "changed (a new object on every request: no cache can answer, all the work is done)",
    "steady": "steady (the same request again, as on every poll of an unchanged object)",
}


def target_met(level: str, row: dict, prefix: str = "") -> str:
    if level == "changed_1":
        ok = row[f"{prefix}ratio_p50"] <= TARGET_P50 and row[f"{prefix}ratio_p99"] <= TARGET_P99
        return "yes" if ok else "no"
    if level == "changed_16":
        return "yes" if row[f"{prefix}throughput_vs_floor"] >= TARGET_THROUGHPUT else "no"
    return ""


def answer_alone(level: str, row: dict) -> list[str]:
    """The answer alone against the floor, in the figures the target is about, and whether even
    it meets the target."""
    if "answer_ratio_p50" not in row:
        return ["-", "-"]
    if level == "changed_1":
        figure = f"{row['answer_ratio_p50']:.2f} / {row['answer_ratio_p99']:.2f}"
    else:
        figure = f"{100 * row['answer_throughput_vs_floor']:.0f}%"
    return [figure, target_met(level, row, "answer_")]


def print_table(results: dict) -> None:
    """Markdown, as in the README: changed and steady separately."""
    rounds = results.get("repeat", 1)
    for state, title in STATES.items():
        print(f"\n{title}; medians of {rounds} rounds\n")
        head = ["kind", "clients", "p50 ms (floor)", "p99 ms (floor)", "p50 x floor"]
        head += ["p99 x floor", "throughput vs floor", "p50 x over rounds"]
        if state == "changed":
            head += ["target met", "answer alone x floor", "answer alone met"]
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for kind, levels in results["kinds"].items():
            for level, row in levels.items():
                if not level.startswith(state):
                    continue
                f, fl = row["function"], row["floor"]
                low, high = row["ratio_p50_range"]
                cells = [kind, level.split("_")[1]]
                cells += [f"{f['p50_ms']:.2f} ({fl['p50_ms']:.2f})"]
                cells += [f"{f['p99_ms']:.2f} ({fl['p99_ms']:.2f})"]
                cells += [f"{row['ratio_p50']:.2f}", f"{row['ratio_p99']:.2f}"]
                cells += [f"{100 * row['throughput_vs_floor']:.0f}%", f"{low:.2f}-{high:.2f}"]
                if state == "changed":
                    cells.append(target_met(level, row))
                    cells += answer_alone(level, row)
                print("| " + " | ".join(cells) + " |")
    print()
    for name, s in results["servers"].items():
        print(f"{name}: peak RSS {s['peak_rss_mb']:.1f} MB, cold start {s['cold_start_s']:.2f} s")
    if "distinct" in results:
        d = results["distinct"]
        print(
            f"function after {d['requests']} distinct requests of {d['bytes_each']} bytes: "
            f"peak RSS {d['peak_rss_mb']:.1f} MB"
        )


if __name__ == "__main__":
    main()
