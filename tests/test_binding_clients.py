"""Binding Secrets used, unchanged, by servicebinding.io clients no one here wrote (issue 14).

Real servers that accept TLS only (PostgreSQL: hostssl only, as RDS with rds.force_ssl=1; MariaDB:
require_secure_transport=ON) present a certificate for `localhost` signed by a local CA standing in
for RDS's. The platform's Input gives that CA as tls.caBundle; the instance's observed host and port
are the server's. Nothing else of the Secret is touched: it is projected as files
(SERVICE_BINDING_ROOT/<name>/<key>), as Kubernetes does, and read by Node's kube-service-bindings
with pg and mysql2, Python's pyservicebinding with psycopg and PyMySQL, and by the `uri` alone.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import shutil
import ssl
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pymysql
import pytest
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from pyservicebinding import binding as pysb

from tests import crds
from tests.helpers import (
    EXAMPLE_INPUT,
    ROOT,
    call,
    composite,
    desired,
    observed_from,
    request,
    resolve_requirements,
)
from tests.sqlservers import mariadb, postgresql
from tests.test_binding import DETAILS, READY_PG
from tests.test_binding_sql import Instance, provision_instance

CLIENTS = ROOT / "tests" / "clients"


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    crt, key = directory / f"{name}.crt", directory / f"{name}.key"
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
             "-keyout", str(key), "-out", str(crt))  # fmt: skip
    return crt, key


def make_server_cert(directory: Path, ca: tuple[Path, Path]) -> tuple[Path, Path]:
    """A server certificate for localhost signed by the CA, as RDS's name the endpoint."""
    crt, key, csr = directory / "server.crt", directory / "server.key", directory / "server.csr"
    ext = directory / "server.ext"
    ext.write_text("subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n")
    _openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
             "-keyout", str(key), "-out", str(csr))  # fmt: skip
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]),
             "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(crt))  # fmt: skip
    key.chmod(0o600)
    return crt, key


@dataclasses.dataclass
class TlsWorld:
    inst: Instance
    ca: str  # PEM of the CA that signed the server's certificate
    other_ca: str  # PEM of a CA that did not
    root: Path  # SERVICE_BINDING_ROOT


@pytest.fixture(scope="module", params=["pg15", "pg16", "pg17", "mariadb"])
def world(request, stub) -> TlsWorld:
    if shutil.which("node") is None or not (CLIENTS / "node_modules").is_dir():
        pytest.fail("Node clients missing: run scripts/sql-servers (npm ci in tests/clients)")
    base = Path(tempfile.mkdtemp(prefix=f"function-rds-tls-{request.param}-"))
    base.chmod(0o755)
    pki = base / "pki"
    pki.mkdir()
    ca = make_ca(pki, "local-rds-ca")
    other = make_ca(pki, "other-ca")
    tls = make_server_cert(pki, ca)
    workdir = base / "server"
    cm = (
        mariadb(workdir, tls, tls_only=True)
        if request.param == "mariadb"
        else postgresql(request.param[2:], workdir, tls, tls_only=True)
    )
    try:
        with cm as server:
            # The host the certificate names, as an RDS endpoint is named in RDS's certificate.
            inst = provision_instance(stub, dataclasses.replace(server, host="localhost"))
            yield TlsWorld(inst, ca[0].read_text(), other[0].read_text(), base / "bindings")
    finally:
        shutil.rmtree(base, ignore_errors=True)


def tls_input(ca_bundle: str | None) -> dict:
    inp = json.loads(json.dumps(EXAMPLE_INPUT))
    if ca_bundle is not None:
        inp["tls"] = {"caBundle": ca_bundle}
    return inp


def bind(stub, w: TlsWorld, name: str, ca_bundle: str | None) -> dict[str, str]:
    """The Secret the function composes for a new binding, projected under SERVICE_BINDING_ROOT."""
    inp = tls_input(ca_bundle)
    bxr = composite("ServiceBinding", {"instanceRef": "orders"}, name=name)
    required = resolve_requirements(stub.RunFunction(request(bxr, inp=inp)), [w.inst.xr])
    bodies = desired(stub.RunFunction(request(bxr, inp=inp, required=required)))
    details = w.inst.provider.create(bodies["user"])
    w.inst.provider.create(bodies["grant"])
    observed = {n: observed_from(b) for n, b in bodies.items()}
    done = stub.RunFunction(
        request(bxr, observed, inp=inp, required=required, connection={"user": details})
    )
    secret = desired(done)["secret"]
    crds.validate(bodies["user"])
    values = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert secret["type"] == f"servicebinding.io/{values['type']}"
    directory = w.root / name
    shutil.rmtree(w.root, ignore_errors=True)  # one binding of each type per app
    directory.mkdir(parents=True)
    for key, value in values.items():
        (directory / key).write_text(value)
    return values


def node(w: TlsWorld, mode: str, name: str, **env: str) -> dict:
    done = subprocess.run(
        ["node", str(CLIENTS / "connect.js"), mode, str(w.root / name)],
        env={"PATH": os.environ["PATH"], "SERVICE_BINDING_ROOT": str(w.root), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def pg_session(conn: psycopg.Connection) -> dict:
    with conn:
        # The login role, not the group role each binding's session switches to.
        (user,) = conn.execute("SELECT session_user").fetchone()
        return {"tls": conn.pgconn.ssl_in_use, "user": user}


def mysql_session(conn) -> dict:
    with conn, conn.cursor() as cur:
        cur.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        cipher = cur.fetchone()[1]
        cur.execute("SELECT CURRENT_USER()")
        return {"tls": cipher != "", "user": cur.fetchone()[0].split("@")[0]}


def pysb_psycopg(w: TlsWorld, name: str, **_: str) -> dict:
    """pyservicebinding gives the values; libpq takes the CA as a file: the projected root.crt."""
    (b,) = pysb.ServiceBinding().bindings("postgresql")
    conn = psycopg.connect(b["uri"], sslrootcert=str(w.root / name / "root.crt"))
    return pg_session(conn)


def pysb_pymysql(w: TlsWorld, name: str, **_: str) -> dict:
    (b,) = pysb.ServiceBinding().bindings("mysql")
    ctx = ssl.create_default_context(cadata=b["ca.crt"])  # checks chain and host name
    conn = pymysql.connect(
        host=b["host"],
        port=int(b["port"]),
        user=b["username"],
        password=b["password"],
        database=b["database"],
        ssl=ctx,
    )
    return mysql_session(conn)


def uri_psycopg(w: TlsWorld, name: str, **_: str) -> dict:
    """The uri alone; libpq finds the CA through PGSSLROOTCERT, as for any libpq app."""
    old = os.environ.get("PGSSLROOTCERT")
    os.environ["PGSSLROOTCERT"] = str(w.root / name / "root.crt")
    try:
        return pg_session(psycopg.connect((w.root / name / "uri").read_text()))
    finally:
        if old is None:
            del os.environ["PGSSLROOTCERT"]
        else:
            os.environ["PGSSLROOTCERT"] = old


def run_client(w: TlsWorld, client: str, name: str) -> dict:
    """One client's answer: the session it got, or the error it met."""
    ca_file = str(w.root / name / "ca.crt")
    if client.startswith("node "):
        mode = client.removeprefix("node ")
        return node(w, mode, name, **({"NODE_EXTRA_CA_CERTS": ca_file} if "uri" in mode else {}))
    os.environ["SERVICE_BINDING_ROOT"] = str(w.root)
    try:
        return PYTHON_CLIENTS[client](w, name)
    except (psycopg.Error, pymysql.err.MySQLError) as err:
        return {"error": str(err)}
    finally:
        del os.environ["SERVICE_BINDING_ROOT"]


PYTHON_CLIENTS = {
    "pyservicebinding+psycopg": pysb_psycopg,
    "pyservicebinding+PyMySQL": pysb_pymysql,
    "uri+psycopg": uri_psycopg,
}
CLIENTS_OF = {
    "postgresql": [
        "node ksb-pg",
        "node uri-pg",
        "pyservicebinding+psycopg",
        "uri+psycopg",
    ],
    "mariadb": ["node ksb-mysql2", "node uri-mysql2", "pyservicebinding+PyMySQL"],
}


@pytest.mark.sql
def test_every_client_connects_with_tls_and_verifies_the_server(stub, world):
    s = bind(stub, world, "verified", world.ca)
    assert s["sslmode"] == "verify-full" and s["ca.crt"] == s["root.crt"] == world.ca
    assert s["host"] == "localhost" and s["type"] in ("postgresql", "mysql")
    got = {c: run_client(world, c, "verified") for c in CLIENTS_OF[world.inst.server.engine]}
    assert got == {c: {"tls": True, "user": s["username"]} for c in got}


@pytest.mark.sql
def test_a_server_certificate_from_another_ca_is_refused(stub, world):
    s = bind(stub, world, "other-ca", world.other_ca)
    assert s["ca.crt"] == world.other_ca
    got = {c: run_client(world, c, "other-ca") for c in CLIENTS_OF[world.inst.server.engine]}
    refused = {c: r for c, r in got.items() if "error" in r}
    assert refused == got, got
    for client, answer in got.items():
        text = answer["error"].lower()
        assert "certificate" in text or "self-signed" in text, (client, answer)


NO_ENCRYPTION = {
    "postgresql": "no encryption",
    # MariaDB 10.11 refuses plaintext under require_secure_transport as a failed login; the same
    # credentials over TLS work (asserted below).
    "mariadb": "Access denied for user",
}


@pytest.mark.sql
def test_plaintext_is_refused(stub, world):
    s = bind(stub, world, "plain", world.ca)
    engine = world.inst.server.engine
    assert run_client(world, CLIENTS_OF[engine][-1], "plain") == {
        "tls": True,
        "user": s["username"],
    }
    if engine == "postgresql":
        with pytest.raises(psycopg.OperationalError) as err:
            psycopg.connect(s["uri"], sslmode="disable")
        # kube-service-bindings turns pg's TLS on from root.crt: without it, plaintext.
        (world.root / "plain" / "root.crt").unlink()
        unmapped = node(world, "ksb-pg", "plain")
    else:
        with pytest.raises(pymysql.err.MySQLError) as err:
            pymysql.connect(
                host=s["host"],
                port=int(s["port"]),
                user=s["username"],
                password=s["password"],
                ssl_disabled=True,  # PyMySQL >= 1.2 would otherwise try TLS unverified
            )
        # kube-service-bindings' mysql2 mapping drops every TLS key: as mapped, no TLS.
        unmapped = node(world, "ksb-mysql2-as-mapped", "plain")
    assert NO_ENCRYPTION[engine] in str(err.value)
    assert NO_ENCRYPTION[engine] in unmapped["error"], unmapped


@pytest.mark.sql
def test_without_a_ca_bundle_the_uri_still_encrypts(stub, world):
    """No tls.caBundle in the Input: sslmode require, no CA keys; encrypted, not verified."""
    s = bind(stub, world, "no-ca", None)
    assert s["sslmode"] == "require" and not {"ca.crt", "root.crt", "sslrootcert"} & set(s)
    if world.inst.server.engine == "postgresql":
        got = pg_session(psycopg.connect(s["uri"]))
    else:
        got = node(world, "uri-mysql2", "no-ca")
    assert got == {"tls": True, "user": s["username"]}


# Without servers: the Input's rules, and bindings that exist before the platform sets caBundle.


@pytest.fixture(scope="module")
def ca_pem(tmp_path_factory) -> str:
    directory = tmp_path_factory.mktemp("ca")
    return make_ca(directory, "platform-ca")[0].read_text()


def fatal(rsp) -> list[str]:
    return [r.message for r in rsp.results if r.severity == fnv1.SEVERITY_FATAL]


INPUT_PREFIX = "cannot use the function input of this Composition step: "


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"sqlSslMode": "verify-full"},
            "input.sqlSslMode: Value error, verify-full cannot verify RDS certificates: "
            "provider-sql's PostgreSQL ProviderConfig has no CA setting (MySQL's would check "
            "system roots); allowed: 'require' or 'disable' (apps verify with tls.caBundle) "
            "(got 'verify-full')",
        ),
        (
            {"sqlSslMode": "verify-ca"},
            "input.sqlSslMode: Value error, verify-ca cannot verify RDS certificates: "
            "provider-sql's PostgreSQL ProviderConfig has no CA setting (MySQL's would check "
            "system roots); allowed: 'require' or 'disable' (apps verify with tls.caBundle) "
            "(got 'verify-ca')",
        ),
        (
            {
                "tls": {
                    "caBundle": "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"
                }
            },
            "input.tls.caBundle: Value error, must hold PEM certificates "
            "(-----BEGIN CERTIFICATE-----) "
            "(got 'https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem')",
        ),
        (
            {
                "tls": {
                    "caBundle": "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"
                }
            },
            "input.tls.caBundle: Value error, holds a certificate block that is no readable "
            "certificate (got '-----BEGIN CERTIFICATE-----\\nnot base64\\n-----END CERTIFICATE-----\\n')",
        ),
        (
            {"tls": {"cabundle": "x"}},
            "input.tls.cabundle: extra inputs are not permitted (got 'x')",
        ),
    ],
)
def test_input_refuses_tls_settings_that_cannot_work(stub, change, message):
    inp = {**json.loads(json.dumps(EXAMPLE_INPUT)), **change}
    rsp = stub.RunFunction(request(composite("ServiceBinding", {"instanceRef": "orders"}), inp=inp))
    # Compared without case: the case of pydantic's wording is not this test's concern.
    assert [m.lower() for m in fatal(rsp)] == [(INPUT_PREFIX + message).lower()]


READY_MARIADB = {
    **composite("MariadbInstance", {"serviceVersion": "11.4.5", "plan": "single-small"}),
    "status": {
        "endpoint": "orders.x.eu-central-1.rds.amazonaws.com",
        "port": 3306,
        "dbname": "app",
        "engine": "mariadb",
        "sqlProviderConfig": "team-a-orders-6ca319",
        "conditions": [{"type": "Ready", "status": "True", "reason": "Available"}],
    },
}
READY_MARIADB["metadata"]["name"] = "orders-6ca31"
OLD_SECRET_KEYS = (
    "username", "password", "dbname", "endpoint", "host", "port", "database", "uri", "type",
    "provider",
)  # fmt: skip


@pytest.mark.parametrize("inst", [READY_PG, READY_MARIADB], ids=["postgresql", "mariadb"])
def test_an_existing_binding_gets_the_new_keys_with_the_same_user(stub, ca_pem, inst):
    """A binding made before this change (old Secret) once the platform sets tls.caBundle."""
    bxr = composite("ServiceBinding", {"instanceRef": "orders"}, name="app")
    engine = inst["status"]["engine"]
    before = desired(call(stub, bxr, [inst], inp=tls_input(None)))
    observed = {n: observed_from(b) for n, b in before.items()}
    old = {k: f"old-{k}" for k in OLD_SECRET_KEYS} | {"password": DETAILS["password"]}
    old["type"] = engine  # the old Secret named the engine: servicebinding.io/mariadb
    observed["secret"] = observed_from(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "app-creds", "namespace": "team-a"},
            "type": f"servicebinding.io/{engine}",
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in old.items()},
        }
    )
    rsp = call(stub, bxr, [inst], observed, {"user": DETAILS}, inp=tls_input(ca_pem))
    after = desired(rsp)
    # The user and its grant are asked for exactly as before: nothing re-created, no new password.
    assert {n: after[n] for n in ("user", "grant", "usage")} == before
    secret = after["secret"]
    values = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    kind = "postgresql" if engine == "postgresql" else "mysql"
    host, port = inst["status"]["endpoint"], inst["status"]["port"]
    tls = (
        "sslmode=verify-full"
        if kind == "postgresql"
        else "ssl=%7B%22rejectUnauthorized%22%3Atrue%2C%22verifyIdentity%22%3Atrue%7D"
    )
    # A Secret's type is immutable in Kubernetes: the old one stays; clients read the `type` key.
    assert secret["type"] == f"servicebinding.io/{engine}"
    assert values == {
        "username": DETAILS["username"],
        "password": DETAILS["password"],
        "dbname": "app",
        "database": "app",
        "endpoint": host,
        "host": host,
        "port": str(port),
        "uri": f"{kind}://{DETAILS['username']}:{DETAILS['password']}@{host}:{port}/app?{tls}",
        "type": kind,
        "engine": engine,
        "provider": "aws-rds",
        "sslmode": "verify-full",
        "ca.crt": ca_pem,
        "root.crt": ca_pem,
    } | ({"sslrootcert": "root.crt"} if kind == "postgresql" else {})
