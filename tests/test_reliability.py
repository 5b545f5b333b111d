"""Fuzzing, load and mTLS against the real gRPC server: it never fails, never composes an invalid
resource, never silently drops what exists, never logs a secret, and holds its memory."""

from __future__ import annotations

import asyncio
import copy
import os
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from function import fn
from function.render import free_port
from tests import crds
from tests.helpers import (
    EXAMPLE_INPUT,
    ROOT,
    SERVER_LOG,
    composite,
    conditions,
    desired,
    observed_from,
    request,
    self_signed,
    tagged,
)

SECRET = "FuzzPassw0rdNeverToBeLogged"
KINDS = [
    "PostgresqlInstance",
    "MysqlInstance",
    "MariadbInstance",
    "ServiceBinding",
    "Backup",
    "Restore",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 70000),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.sampled_from(["", "17.5", "8.4.5", "11.4.5", "16.5", "99.9", "single-small", "cluster-medium",
                     "gold", "orders", "readOnly", "hourly", "none", "daily", "03:00-03:10",
                     "2026-11-24T09:30:00Z", "arn:aws:rds:eu-central-1:123456789012:snapshot:s",
                     "us-east-1", "x" * 80, "klutch.io/name", "Retain", "mysql"]),
    st.text(max_size=12),
)  # fmt: skip
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
FIELDS = {
    "serviceVersion": scalars,
    "plan": scalars,
    "config": st.fixed_dictionaries(
        {},
        optional={
            "region": scalars,
            "publiclyAccessible": scalars,
            "tags": st.dictionaries(
                st.sampled_from(["team", "klutch.io/x", "aws:y", "z" * 130]),
                st.text(max_size=5),
                max_size=2,
            ),
            "database": st.fixed_dictionaries({}, optional={"name": scalars}),
            "compute": st.fixed_dictionaries(
                {}, optional={"replicas": st.fixed_dictionaries({}, optional={"count": scalars})}
            ),
            "allocatedStorage": scalars,
            "encryptedStorage": scalars,
            "multiAZ": scalars,
            "typo": json_values,
        },
    ),
    "backup": st.fixed_dictionaries(
        {}, optional={"schedule": scalars, "retentionDays": scalars, "window": scalars}
    ),
    "instanceRef": scalars,
    "serviceInstanceType": scalars,
    "role": scalars,
    "deletionPolicy": scalars,
    "backupRef": scalars,
    "backupArn": scalars,
    "pointInTime": st.fixed_dictionaries(
        {},
        optional={
            "instanceRef": scalars,
            "restoreTime": scalars,
            "useLatestRestorableTime": scalars,
        },
    ),
}
specs = st.fixed_dictionaries({}, optional=FIELDS)

READY_INSTANCE = {
    **composite("PostgresqlInstance", {"serviceVersion": "17.5", "plan": "single-small"}),
    "status": {
        "endpoint": "h.example",
        "port": 5432,
        "dbname": "app",
        "identifier": "team-a-orders-6ca319",
        "region": "eu-central-1",
        "plan": "single-small",
        "version": "17.5",
        "sqlProviderConfig": "team-a-orders-6ca319",
        "backup": {
            "schedule": "daily",
            "retentionDays": 7,
            "latestRestorableTime": "2026-11-24T09:35:00Z",
        },
        "conditions": [{"type": "Ready", "status": "True"}],
    },
}
READY_BACKUP = {
    **composite("Backup", {"instanceRef": "orders"}),
    "status": {
        "phase": "available",
        "snapshotIdentifier": "s1",
        "engine": "postgresql",
        "engineVersion": "17.5",
        "plan": "single-small",
        "region": "eu-central-1",
    },
}


def required_for(rsp: fnv1.RunFunctionResponse) -> dict[str, list[dict]]:
    out = {}
    for name, sel in rsp.requirements.resources.items():
        pool = (
            [READY_INSTANCE]
            if sel.kind == "XPostgresqlInstance"
            else [READY_BACKUP]
            if sel.kind == "XBackup"
            else []
        )
        out[name] = pool
    return out


# Composed resources the spec itself may remove: replicas beyond the asked count, AWS Backup
# objects when the schedule is no longer hourly.
def may_drop(name: str) -> bool:
    return name.startswith("replica-") or name.startswith("backup-")


def check_response(rsp: fnv1.RunFunctionResponse, observed: dict[str, dict]) -> None:
    got = desired(rsp)
    for body in got.values():
        if body.get("kind") == "Secret":
            assert body["apiVersion"] == "v1" and body["metadata"]["namespace"]
        else:
            crds.validate(body)
    spec_valid = conditions(rsp).get("SpecValid")
    if spec_valid is not None and spec_valid.status == fnv1.STATUS_CONDITION_FALSE:
        assert "spec" in spec_valid.message, spec_valid.message
        assert rsp.results, "an invalid spec must also be an event"
    fatal = [r for r in rsp.results if r.severity == fnv1.SEVERITY_FATAL]
    if not fatal:
        dropped = {n for n in observed if n not in got and not may_drop(n)}
        assert not dropped, f"observed resources dropped: {dropped}"
    for r in rsp.results:
        assert SECRET not in r.message
    for c in rsp.conditions:
        assert SECRET not in c.message


# For each kind, a valid spec whose composed resources the fuzzed spec then finds observed.
VALID = {
    "PostgresqlInstance": {
        "serviceVersion": "17.5",
        "plan": "cluster-small",
        "backup": {"schedule": "hourly"},
    },
    "MysqlInstance": {"serviceVersion": "8.4.5", "plan": "single-small"},
    "MariadbInstance": {"serviceVersion": "11.4.5", "plan": "single-small"},
    "ServiceBinding": {"instanceRef": "orders"},
    "Backup": {"instanceRef": "orders"},
    "Restore": {"backupRef": "orders"},
}


def settled(stub, kind: str) -> dict[str, dict]:
    """What a valid spec of this kind composed, now observed."""
    vx = composite(kind, VALID[kind])
    first = stub.RunFunction(request(vx))
    made = desired(stub.RunFunction(request(vx, required=required_for(first))))
    return {
        n: observed_from(b, at_provider={"arn": "arn:aws:rds:eu-central-1:1:db:x"})
        for n, b in made.items()
    }


def with_secret(observed: dict[str, dict]) -> dict[str, dict[str, str]]:
    """Connection details as providers publish them, each with a password never to be logged."""
    return {
        n: {"username": "u", "password": SECRET, "endpoint": "h", "port": "5432"} for n in observed
    }


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(kind=st.sampled_from(KINDS), spec=specs, with_observed=st.booleans())
def test_fuzzed_specs_never_break_the_function(grpc_stub, kind, spec, with_observed):
    xr = composite(kind, spec)
    observed = settled(grpc_stub, kind) if with_observed else {}
    connection = with_secret(observed)
    first = grpc_stub.RunFunction(request(xr, observed, connection=connection))
    check_response(first, observed)
    rsp = grpc_stub.RunFunction(
        request(xr, observed, required=required_for(first), connection=connection)
    )
    check_response(rsp, observed)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    field=st.sampled_from(
        ["aws", "network", "safety", "backup", "catalog", "tags", "sqlSslMode", "bogus"]
    ),
    value=json_values,
)
def test_fuzzed_inputs_are_valid_or_fatal(grpc_stub, field, value):
    inp = copy.deepcopy(EXAMPLE_INPUT)
    inp[field] = value
    rsp = grpc_stub.RunFunction(
        request(
            composite("PostgresqlInstance", {"serviceVersion": "17.5", "plan": "single-small"}),
            inp=inp,
        )
    )
    fatal = [r for r in rsp.results if r.severity == fnv1.SEVERITY_FATAL]
    if fatal:
        assert "input." in fatal[0].message and desired(rsp) == {}
    else:
        check_response(rsp, {})


def test_debug_log_holds_no_secret(grpc_stub):
    for kind, spec in VALID.items():
        observed = settled(grpc_stub, kind)
        xr = composite(kind, {**spec, "bogus": 1})  # a warning path as well as a composing one
        for x in (composite(kind, spec), xr):
            first = grpc_stub.RunFunction(request(x, observed, connection=with_secret(observed)))
            grpc_stub.RunFunction(
                request(x, observed, required=required_for(first), connection=with_secret(observed))
            )
    log = SERVER_LOG.read_text()
    assert "composed" in log
    assert SECRET not in log


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.slow
def test_load_32_clients_no_errors_no_memory_growth(server):
    proc, address = server
    base = request(
        composite("PostgresqlInstance", {"serviceVersion": "17.5", "plan": "cluster-small"})
    )

    def variant(i: int) -> fnv1.RunFunctionRequest:
        r = fnv1.RunFunctionRequest()
        r.CopyFrom(base)
        r.observed.composite.resource["spec"]["loadSequence"] = i
        return tagged(r)

    async def burst(reqs: list) -> int:
        errors = 0
        async with grpc.aio.insecure_channel(address) as channel:
            stub = grpcv1.FunctionRunnerServiceStub(channel)
            queue = list(reqs)

            async def client() -> None:
                nonlocal errors
                while queue:
                    req = queue.pop()
                    try:
                        rsp = await stub.RunFunction(req, timeout=30)
                        if any(r.severity == fnv1.SEVERITY_FATAL for r in rsp.results):
                            errors += 1
                    except grpc.aio.AioRpcError:
                        errors += 1

            await asyncio.wait_for(asyncio.gather(*(client() for _ in range(32))), timeout=240)
        return errors

    # Warm-up past every cache's bound (answers of ~3.4 KB: 12,000 hold more than the response
    # cache's 32 MiB, and their composites more than the struct memo's 16 MiB), then more distinct
    # requests: memory must hold.
    for start in range(0, 12000, 4000):
        assert asyncio.run(burst([variant(i) for i in range(start, start + 4000)])) == 0
    before = rss_mb(proc.pid)
    assert asyncio.run(burst([variant(i) for i in range(12000, 15000)])) == 0
    after = rss_mb(proc.pid)
    assert after - before < 10, f"RSS grew from {before:.1f} MB to {after:.1f} MB"


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _pki(d: Path, name: str, ca: str, ca_key: str, san: str | None = None) -> None:
    _openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        f"/CN={name}",
        "-keyout",
        str(d / f"{name}.key"),
        "-out",
        str(d / f"{name}.csr"),
    )
    ext = d / f"{name}.ext"
    ext.write_text(f"subjectAltName={san}\n" if san else "basicConstraints=CA:FALSE\n")
    _openssl(
        "x509",
        "-req",
        "-in",
        str(d / f"{name}.csr"),
        "-CA",
        ca,
        "-CAkey",
        ca_key,
        "-CAcreateserial",
        "-days",
        "2",
        "-out",
        str(d / f"{name}.crt"),
        "-extfile",
        str(ext),
    )


@pytest.mark.slow
def test_mtls_refuses_clients_without_a_valid_certificate(tmp_path):
    d = tmp_path
    for ca in ("ca", "other-ca"):
        self_signed(d / f"{ca}.crt", d / f"{ca}.key", ca)
    _pki(d, "server", str(d / "ca.crt"), str(d / "ca.key"), san="DNS:localhost,IP:127.0.0.1")
    _pki(d, "crossplane", str(d / "ca.crt"), str(d / "ca.key"))
    _pki(d, "intruder", str(d / "other-ca.crt"), str(d / "other-ca.key"))
    certs = d / "tls"
    certs.mkdir()
    (certs / "tls.crt").write_bytes((d / "server.crt").read_bytes())
    (certs / "tls.key").write_bytes((d / "server.key").read_bytes())
    (certs / "ca.crt").write_bytes((d / "ca.crt").read_bytes())
    address = f"localhost:{free_port()}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "function.main", "--tls-server-certs-dir", str(certs), "--address", address],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    req = request(
        composite("PostgresqlInstance", {"serviceVersion": "17.5", "plan": "single-small"})
    )
    ca = (d / "ca.crt").read_bytes()

    def call(key: str | None):
        creds = grpc.ssl_channel_credentials(
            root_certificates=ca,
            private_key=(d / f"{key}.key").read_bytes() if key else None,
            certificate_chain=(d / f"{key}.crt").read_bytes() if key else None,
        )
        with grpc.secure_channel(address, creds) as channel:
            return grpcv1.FunctionRunnerServiceStub(channel).RunFunction(
                req, timeout=5, wait_for_ready=key == "crossplane"
            )

    try:
        assert "instance" in call("crossplane").desired.resources
        for who in (None, "intruder"):
            with pytest.raises(grpc.RpcError) as err:
                call(who)
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE, who
        with grpc.insecure_channel(address) as plain, pytest.raises(grpc.RpcError):
            grpcv1.FunctionRunnerServiceStub(plain).RunFunction(req, timeout=5)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_grpc_smoke(grpc_stub):
    """The real server answers over gRPC exactly what the runner answers in-process."""
    req = request(composite("PostgresqlInstance", VALID["PostgresqlInstance"]))
    loop = asyncio.new_event_loop()
    try:
        in_process = loop.run_until_complete(fn.FunctionRunner().RunFunction(req))
    finally:
        loop.close()
    over_grpc = grpc_stub.RunFunction(req)
    assert over_grpc.SerializeToString(deterministic=True) == in_process.SerializeToString(
        deterministic=True
    )
    assert "instance" in over_grpc.desired.resources
