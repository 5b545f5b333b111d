"""The lifecycle world's data (world/data.py): real databases behind the RDS instances, the copies
RDS keeps (snapshots, automated backups) and the network that routes a client's URI to them.
These must hold whatever the function does: the scenarios rely on them to see lost rows."""

from __future__ import annotations

from datetime import timedelta

import pytest

from world.data import Data, Unreachable, connect, servers
from world.store import Clock

pytestmark = [pytest.mark.sql, pytest.mark.world]

ENGINES = [("postgres", "17.5", "postgresql", 5432), ("mariadb", "10.11.11", "mysql", 3306)]


@pytest.fixture(scope="module")
def local_servers():
    with servers() as s:
        yield s


def _uri(scheme: str, port: int, address: str, dbname: str) -> str:
    """An app's URI as the binding Secret gives it, as the server's master."""
    tls = "sslmode=require" if scheme == "postgresql" else 'ssl={"rejectUnauthorized":false}'
    return f"{scheme}://dbadmin:master-password-only-for-tests@{address}:{port}/{dbname}?{tls}"


def _run(data: Data, uri: str, *statements: str) -> list:
    identifier, routed = data.route(uri)
    rows: list = []
    with connect(routed) as conn:
        cur = conn.cursor()
        for statement in statements:
            cur.execute(statement)
            rows = [tuple(r) for r in cur.fetchall()] if cur.description else []
    if not statements[-1].startswith("SELECT"):
        data.keep(identifier)
    return rows


@pytest.mark.parametrize(("engine", "version", "scheme", "port"), ENGINES)
def test_snapshots_and_point_in_time_copies_hold_exactly_their_rows(
    local_servers, engine, version, scheme, port
):
    clock = Clock()
    data = Data(local_servers, clock)
    data.create("db1", engine, version, "orders")
    data.endpoints["db1.rds"] = ("db1", port)
    db1 = _uri(scheme, port, "db1.rds", "orders")
    _run(data, db1, "CREATE TABLE t (id int)", "INSERT INTO t VALUES (1)")
    data.snapshot("snap", "db1")
    clock.advance(10)
    _run(data, db1, "INSERT INTO t VALUES (2)")
    between = clock.now + timedelta(minutes=5)
    clock.advance(10)
    _run(data, db1, "INSERT INTO t VALUES (3)")

    data.restore_snapshot("from-snap", "snap")
    assert data.restore_time("pit", "db1", between) == between - timedelta(minutes=5)
    data.restore_time("latest", "db1", None)
    for identifier, want in [
        ("from-snap", [(1,)]),
        ("pit", [(1,), (2,)]),
        ("latest", [(1,), (2,), (3,)]),
        ("db1", [(1,), (2,), (3,)]),
    ]:
        data.endpoints[f"{identifier}.rds"] = (identifier, port)
        uri = _uri(scheme, port, f"{identifier}.rds", "orders")
        assert _run(data, uri, "SELECT id FROM t ORDER BY id") == want, identifier

    # Deleted with a final snapshot and automated backups kept: its rows stay restorable.
    data.delete("db1", "db1-final", keep_backups=True)
    with pytest.raises(Unreachable, match="no such host"):
        data.route(db1)
    data.restore_snapshot("from-final", "db1-final")
    data.endpoints["from-final.rds"] = ("from-final", port)
    final = _uri(scheme, port, "from-final.rds", "orders")
    assert _run(data, final, "SELECT id FROM t ORDER BY id") == [(1,), (2,), (3,)]
    data.restore_time("after-delete", "db1", between)
    assert data.history["db1"]
    data.delete("pit", None, keep_backups=False)
    assert "pit" not in data.history


@pytest.mark.parametrize(("engine", "version", "scheme", "port"), ENGINES)
def test_the_network_routes_only_the_instances_endpoint_port_and_databases(
    local_servers, engine, version, scheme, port
):
    data = Data(local_servers, Clock())
    data.create("db1", engine, version, "orders")
    data.endpoints["db1.rds"] = ("db1", port)
    identifier, routed = data.route(_uri(scheme, port, "db1.rds", "orders"))
    server = local_servers.get(engine, version)
    assert identifier == "db1"
    # User, password and options as given; host, port and database routed.
    assert routed == _uri(scheme, server.port, server.host, "world1_orders")
    for uri, message in [
        (_uri(scheme, port, "other.rds", "orders"), "lookup other.rds: no such host"),
        (_uri(scheme, port + 1, "db1.rds", "orders"), f"db1.rds:{port + 1}: connection refused"),
        (_uri(scheme, port, "db1.rds", "other"), "database 'other' does not exist on db1"),
    ]:
        with pytest.raises(Unreachable, match=message):
            data.route(uri)


def test_each_world_starts_on_emptied_servers(local_servers):
    data = Data(local_servers, Clock())
    data.create("db1", "postgres", "17.5", "orders")
    data.endpoints["db1.rds"] = ("db1", 5432)
    uri = _uri("postgresql", 5432, "db1.rds", "orders")
    _run(data, uri, "CREATE ROLE leftover", "SELECT 1")
    fresh = Data(local_servers, Clock())
    fresh.create("db1", "postgres", "17.5", "orders")
    fresh.endpoints["db1.rds"] = ("db1", 5432)
    assert fresh.instances["db1"].databases == {"orders": "world1_orders"}
    assert _run(fresh, uri, "SELECT count(*) FROM pg_roles WHERE rolname = 'leftover'") == [(0,)]
