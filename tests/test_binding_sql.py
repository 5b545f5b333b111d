"""ServiceBinding semantics proven on real servers (SPEC §1.2).

The function composes; the SQL provider's exact statements are replayed against PostgreSQL 15, 16,
17 and MariaDB 10.11 as the RDS-like master user; apps then connect with nothing but the Secret.
"""

from __future__ import annotations

import base64
import copy
import shutil
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import psycopg
import pymysql
import pytest

from function import sql
from tests import crds
from tests.helpers import (
    KIND_OF_ENGINE,
    SERVER_LOG,
    composite,
    desired,
    observed_from,
    ready_composite,
    request,
    resolve_requirements,
)
from tests.sqlprovider import provider_for
from tests.sqlservers import mariadb, postgresql

pytestmark = pytest.mark.sql


@pytest.fixture(scope="session")
def stub(grpc_stub):
    """These bindings go through the real server: its debug log is checked for passwords."""
    return grpc_stub


VERSIONS = {"postgresql": "17.5", "mysql": "8.4.5", "mariadb": "11.4.5"}


@dataclass
class Instance:
    server: object
    provider: object
    xr: dict  # the instance composite as Crossplane stores it (status, Ready)


@pytest.fixture(scope="module", params=["pg15", "pg16", "pg17", "mariadb"])
def instance(request, stub) -> Instance:
    # Not under pytest's tmp_path: the postgres user must be able to reach its data directory.
    base = Path(tempfile.mkdtemp(prefix=f"function-rds-{request.param}-"))
    base.chmod(0o755)
    workdir = base / "server"
    server_cm = (
        mariadb(workdir) if request.param == "mariadb" else postgresql(request.param[2:], workdir)
    )
    try:
        with server_cm as server:
            yield provision_instance(stub, server)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def provision_instance(stub, server) -> Instance:
    engine = server.engine
    xr = composite(
        KIND_OF_ENGINE[engine], {"serviceVersion": VERSIONS[engine], "plan": "single-small"}
    )
    at = {"address": server.host, "port": server.port, "status": "available"}
    first = desired(stub.RunFunction(request(xr)))
    observed = {
        n: observed_from(b, at_provider=at if n == "instance" else {}) for n, b in first.items()
    }
    second = desired(stub.RunFunction(request(xr, observed)))
    provider = provider_for(server, second["sql-providerconfig"])
    for name in sql.GROUP_RESOURCES if engine == "postgresql" else ():
        crds.validate(second[name])
        provider.create(second[name])
        observed[name] = observed_from(second[name])
    for name in sql.GROUP_RESOURCES if engine == "postgresql" else ():
        # The provider's next Observe finds each one as asked: no endless re-create.
        assert provider.up_to_date(second[name]), name
    final = stub.RunFunction(request(xr, observed))
    assert all(r.ready == 1 for r in final.desired.resources.values()), "instance must be ready"
    return Instance(server, provider, ready_composite(xr, final))


@dataclass
class Binding:
    name: str
    bodies: dict[str, dict]
    secret: dict[str, str]
    secret_object: dict


def bind(stub, inst: Instance, name: str, role: str = "readWrite") -> Binding:
    bxr = composite("ServiceBinding", {"instanceRef": "orders", "role": role}, name=name)
    first = stub.RunFunction(request(bxr))
    required = resolve_requirements(first, [inst.xr])
    composed = stub.RunFunction(request(bxr, required=required))
    bodies = desired(composed)
    assert sorted(bodies) == ["grant", "usage", "user"], [r.message for r in composed.results]
    for body in bodies.values():
        crds.validate(body)
    details = inst.provider.create(bodies["user"])
    inst.provider.create(bodies["grant"])
    assert inst.provider.up_to_date(bodies["user"]) and inst.provider.up_to_date(bodies["grant"])
    observed = {n: observed_from(b) for n, b in bodies.items()}
    done = stub.RunFunction(request(bxr, observed, required=required, connection={"user": details}))
    secret = desired(done)["secret"]
    values = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert values["password"] not in SERVER_LOG.read_text()
    # The same keys reach the claim's own connection secret through the composite.
    assert {k: v.decode() for k, v in done.desired.composite.connection_details.items()} == values
    return Binding(name, bodies, values, secret)


def unbind(inst: Instance, b: Binding) -> None:
    """Crossplane deletes the composed resources without ordering: the grant, then the user."""
    inst.provider.delete(b.bodies["grant"])
    inst.provider.delete(b.bodies["user"])


def connect(secret: dict[str, str]):
    """An app with only the Secret: `uri` as given, with the engine's standard driver."""
    if secret["type"] == "postgresql":
        return psycopg.connect(secret["uri"], autocommit=True)
    u = urlparse(secret["uri"])
    # No tls.caBundle in this Input: encrypted, not verified (tests/test_binding_clients.py verifies).
    assert parse_qs(u.query) == {"ssl": ['{"rejectUnauthorized":false}']}
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE  # RDS CA not in system roots
    return pymysql.connect(
        host=u.hostname,
        port=u.port,
        user=unquote(u.username),
        password=unquote(u.password),
        database=u.path.lstrip("/"),
        ssl=ctx,
        autocommit=True,
    )


def execute(secret, statement: str) -> list:
    conn = connect(secret)
    with conn:
        cur = conn.cursor()
        cur.execute(statement)
        return list(cur.fetchall()) if cur.description else []


def refused(secret, statement: str) -> str:
    with pytest.raises((psycopg.Error, pymysql.err.MySQLError)) as err:
        execute(secret, statement)
    return str(err.value)


def test_secret_has_every_key_and_works_with_envfrom(stub, instance):
    b = bind(stub, instance, "keys")
    s = b.secret
    assert sorted(s) == sorted(
        [
            "username",
            "password",
            "dbname",
            "endpoint",
            "host",
            "port",
            "database",
            "uri",
            "type",
            "engine",
            "provider",
            "sslmode",
        ]
    )
    assert s["endpoint"] == s["host"] == "127.0.0.1" and ":" not in s["endpoint"]
    assert s["port"] == str(instance.server.port)
    assert s["dbname"] == s["database"] == "app"
    scheme = "postgresql" if instance.server.engine == "postgresql" else "mysql"
    assert s["type"] == scheme and s["engine"] == instance.server.engine
    assert s["provider"] == "aws-rds" and s["sslmode"] == "require"
    assert b.secret_object["type"] == f"servicebinding.io/{scheme}"
    assert b.secret_object["metadata"] == {
        "name": "keys-creds",
        "namespace": "team-a",
        "labels": {"klutch.io/binding": "keys"},
    }
    assert s["uri"].startswith(
        f"{scheme}://{s['username']}:{s['password']}@127.0.0.1:{s['port']}/app?"
    )
    if scheme == "postgresql":
        assert execute(s, "SELECT current_setting('ssl')") == [("on",)], (
            "sslmode=require must mean TLS"
        )
    unbind(instance, b)


def test_readwrite_bindings_share_tables_and_readonly_only_reads(stub, instance):
    a = bind(stub, instance, "writer-a")
    b = bind(stub, instance, "writer-b")
    ro = bind(stub, instance, "reader", role="readOnly")

    execute(a.secret, "CREATE TABLE orders (id int primary key, item varchar(20))")
    execute(a.secret, "INSERT INTO orders VALUES (1, 'book')")
    # A second readWrite binding sees and changes the first one's table, and the reverse.
    assert execute(b.secret, "SELECT item FROM orders") == [("book",)]
    execute(b.secret, "INSERT INTO orders VALUES (2, 'pen')")
    execute(b.secret, "ALTER TABLE orders ADD COLUMN qty int")
    execute(b.secret, "CREATE TABLE invoices (id int)")
    execute(a.secret, "INSERT INTO invoices VALUES (7)")
    execute(a.secret, "DROP TABLE invoices")
    # readOnly reads what readWrite bindings wrote, and nothing more.
    assert execute(ro.secret, "SELECT id FROM orders ORDER BY id") == [(1,), (2,)]
    assert "denied" in refused(ro.secret, "INSERT INTO orders VALUES (3, 'cup', 1)")
    assert "denied" in refused(ro.secret, "UPDATE orders SET item = 'x'")
    assert "denied" in refused(ro.secret, "CREATE TABLE mine (id int)")

    # Deleting a binding drops only its user: it succeeds at once and loses no table or row.
    unbind(instance, a)
    assert execute(b.secret, "SELECT count(*) FROM orders") == [(2,)]
    assert execute(ro.secret, "SELECT count(*) FROM orders") == [(2,)]
    with pytest.raises((psycopg.Error, pymysql.err.MySQLError)):
        connect(a.secret)
    unbind(instance, b)
    unbind(instance, ro)
    assert_user_gone(instance, a, b, ro)
    # The data outlives every binding: a new one still finds it.
    c = bind(stub, instance, "writer-c")
    assert execute(c.secret, "SELECT count(*) FROM orders") == [(2,)]
    execute(c.secret, "DROP TABLE orders")
    unbind(instance, c)


def assert_user_gone(inst: Instance, *bindings: Binding) -> None:
    names = [b.secret["username"] for b in bindings]
    if inst.server.engine == "postgresql":
        rows = execute_admin(inst, "SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", names)
    else:
        rows = execute_admin(inst, "SELECT User FROM mysql.user WHERE User IN %s", names)
    assert rows == []


def execute_admin(inst: Instance, statement: str, *args) -> list:
    from tests.sqlservers import MASTER_PASSWORD, MASTER_USER

    s = inst.server
    if s.engine == "postgresql":
        conn = psycopg.connect(
            host=s.host, port=s.port, user=MASTER_USER, password=MASTER_PASSWORD, dbname="app"
        )
    else:
        conn = pymysql.connect(
            host=s.host,
            port=s.port,
            user=MASTER_USER,
            password=MASTER_PASSWORD,
            ssl={"check_hostname": False},
        )
    with conn:
        cur = conn.cursor()
        cur.execute(statement, args or None)
        return list(cur.fetchall())


def test_binding_users_are_not_privileged(stub, instance):
    b = bind(stub, instance, "plain")
    s = b.secret
    if instance.server.engine == "postgresql":
        flags = execute_admin(
            instance,
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls "
            "FROM pg_roles WHERE rolname = %s",
            s["username"],
        )
        assert flags == [(False, False, False, False, False)]
        assert "denied" in refused(s, "CREATE ROLE intruder")
        assert "denied" in refused(s, "CREATE DATABASE other")
        assert "denied" in refused(s, "SET ROLE NONE; CREATE TABLE public.own (id int)")
    else:
        assert "denied" in refused(s, "CREATE USER 'intruder'@'%'")
        assert "denied" in refused(s, "CREATE DATABASE other")
        assert "denied" in refused(s, "SELECT * FROM mysql.user")
    unbind(instance, b)


def test_observe_replay_notices_drift(stub, instance):
    """The Observe replay is what proves convergence above, so it must see a difference."""
    b = bind(stub, instance, "drift")
    grant = copy.deepcopy(b.bodies["grant"])
    if instance.server.engine == "postgresql":
        grant["spec"]["forProvider"]["memberOf"] = sql.RO_GROUP
    else:
        grant["spec"]["forProvider"]["privileges"] = ["SELECT"]
    assert not instance.provider.up_to_date(grant)
    unbind(instance, b)
    assert not instance.provider.up_to_date(b.bodies["user"])
