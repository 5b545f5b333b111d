"""Realistic requests for each kind, built by driving the function like Crossplane does."""

from __future__ import annotations

from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from tests.helpers import (
    composite,
    desired,
    observed_from,
    ready_composite,
    request,
    resolve_requirements,
)

SPEC = {"serviceVersion": "17.5", "plan": "cluster-small", "config": {"tags": {"team": "orders"}}}
AT = {
    "address": "orders.abc.eu-central-1.rds.amazonaws.com",
    "port": 5432,
    "arn": "arn:aws:rds:eu-central-1:123456789012:db:x",
    "status": "available",
    "allocatedStorage": 50,
    "latestRestorableTime": "2026-11-24T09:35:00Z",
}
DETAILS = {"username": "b_app", "password": "bench-only-password", "endpoint": "h", "port": "5432"}


def build(stub) -> dict[str, fnv1.RunFunctionRequest]:
    """One request per kind, each with the observed and required state of a settled object."""
    xr = composite("PostgresqlInstance", SPEC)
    observed: dict = {}
    for _ in range(2):  # the second round composes the SQL group roles
        got = desired(stub.RunFunction(request(xr, observed)))
        observed = {
            n: observed_from(b, at_provider=AT if n == "instance" else {}) for n, b in got.items()
        }
    instance_req = request(xr, observed)
    inst = ready_composite(xr, stub.RunFunction(instance_req))

    def settled(
        xr: dict, pool: list[dict], connection: dict | None = None
    ) -> fnv1.RunFunctionRequest:
        first = stub.RunFunction(request(xr))
        required = resolve_requirements(first, pool)
        got = desired(stub.RunFunction(request(xr, required=required, connection=connection)))
        seen = {n: observed_from(b) for n, b in got.items()}
        return request(xr, seen, required=required, connection=connection)

    binding = settled(
        composite("ServiceBinding", {"instanceRef": "orders"}, name="app"),
        [inst],
        {"user": DETAILS},
    )
    backup_xr = composite("Backup", {"instanceRef": "orders"}, name="pre")
    first = stub.RunFunction(request(backup_xr))
    backup = request(backup_xr, required=resolve_requirements(first, [inst]))
    restore = settled(
        composite(
            "Restore",
            {"pointInTime": {"instanceRef": "orders", "useLatestRestorableTime": True}},
            name="r",
        ),
        [inst],
    )
    return {"instance": instance_req, "binding": binding, "backup": backup, "restore": restore}
