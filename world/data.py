"""The data behind the world's RDS instances: real databases on the local servers.

Every instance the world creates gets its databases on a local server of its engine
(tests/sqlservers.py: PostgreSQL of the instance's major, MariaDB 10.11 for MariaDB and MySQL
instances). The servers are shared, so each (instance, database) is a database of its own, named
`world<n>_<dbname>`; the world's DNS routes an RDS endpoint to the server and the instance's
database name to that database (`route`): an app's or provider-sql's connection keeps its user,
password, TLS options and everything else it was given. Users and roles are per server, not per
instance (as if every instance were restored from one snapshot): binding users have unique names,
and the shared group roles are what a restore would bring along anyway.

What RDS keeps, the world keeps as copies (PostgreSQL `CREATE DATABASE ... TEMPLATE`, MariaDB
tables copied with their rows):
- a snapshot (manual or final) is a copy of the instance's databases when it is taken;
- automated backups: a copy of the instance's databases at every simulated minute in which they
  changed (at creation, and after each app session; apps are the only writers), so a point-in-time
  restore has exactly the rows committed up to that minute. They outlive the instance unless the
  deletion asks otherwise (deleteAutomatedBackups).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import ssl
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

import psycopg
import pymysql

from tests.sqlservers import MASTER_PASSWORD, MASTER_USER, Server, mariadb, postgresql
from world.store import Clock

PREFIX = "world"


class Unreachable(Exception):  # noqa: N818 (what a client reports)
    """No server answers at this endpoint, or it has no such database."""


class Servers:
    """The local servers, each started the first time an instance needs it (one per
    PostgreSQL major, one MariaDB for MariaDB and MySQL instances), stopped by close()."""

    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()
        # Not under pytest's tmp_path: the postgres user must be able to reach its directory.
        self.base = Path(tempfile.mkdtemp(prefix="function-rds-world-"))
        self.base.chmod(0o755)
        self._stack.callback(shutil.rmtree, self.base, ignore_errors=True)
        self.running: dict[str, Server] = {}

    def get(self, engine: str, version: str) -> Server:
        key = f"pg{version.split('.')[0]}" if engine == "postgres" else "mariadb"
        if key not in self.running:
            workdir = self.base / key
            try:
                cm = mariadb(workdir) if key == "mariadb" else postgresql(key[2:], workdir)
            except KeyError:
                raise Unreachable(f"no local server for {engine} {version}") from None
            self.running[key] = self._stack.enter_context(cm)
            self._reset(key)
        return self.running[key]

    def reset(self) -> None:
        """Drop what a previous world left (databases, users, roles): each world starts empty."""
        for key in self.running:
            self._reset(key)

    def _reset(self, key: str) -> None:
        server = self.running[key]
        if server.engine != "postgresql":
            reset_mariadb(server)
            return
        # As the superuser (over the server's socket): the master may not drop group roles.
        conn = psycopg.connect(
            host=str(self.base / key), port=server.port, user="postgres", autocommit=True
        )
        with conn:
            for (name,) in conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE 'world%'"
            ).fetchall():
                conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            roles = conn.execute(
                "SELECT rolname FROM pg_roles WHERE rolname !~ '^pg_' AND rolname <> ALL(%s)",
                [["postgres", MASTER_USER]],
            ).fetchall()
            for (name,) in roles:
                conn.execute(f'DROP ROLE "{name}"')

    def close(self) -> None:
        self._stack.close()


def admin(server: Server, database: str | None = None):
    """The local server's master user (what RDS calls the master), over TLS."""
    if server.engine == "postgresql":
        return psycopg.connect(
            host=server.host,
            port=server.port,
            user=MASTER_USER,
            password=MASTER_PASSWORD,
            dbname=database or "postgres",
            sslmode="require",
            autocommit=True,
        )
    return pymysql.connect(
        host=server.host,
        port=server.port,
        user=MASTER_USER,
        password=MASTER_PASSWORD,
        database=database,
        ssl={"check_hostname": False},  # tls=skip-verify, as provider-sql
        autocommit=True,
    )


def as_master(server: Server, statement: str, *args, database: str | None = None) -> list:
    """The world's own statement as the master (copies, checks): not provider-sql's SQL."""
    conn = admin(server, database)
    with conn:
        cur = conn.cursor()
        cur.execute(statement, args or None)
        return list(cur.fetchall()) if cur.description else []


def reset_mariadb(server: Server) -> None:
    for (name,) in as_master(server, "SHOW DATABASES LIKE 'world%'"):
        as_master(server, f"DROP DATABASE `{name}`")
    system = ("root", MASTER_USER, "mariadb.sys", "mysql", "PUBLIC", "")
    for user, host in as_master(server, "SELECT User, Host FROM mysql.user"):
        if user not in system:
            as_master(server, f"DROP USER '{user}'@'{host}'")


@dataclass
class Backing:
    """One instance's databases (or a copy of them): database name -> database on the server."""

    server: Server
    databases: dict[str, str]


@dataclass
class Data:
    servers: Servers
    clock: Clock
    instances: dict[str, Backing] = field(default_factory=dict)  # identifier -> its databases
    # The world's DNS: RDS address -> (identifier, port), once the instance answers.
    endpoints: dict[str, tuple[str, int]] = field(default_factory=dict)
    snapshots: dict[str, Backing] = field(default_factory=dict)
    # Automated backups: identifier -> (minute, copy) in time order; kept after the instance.
    history: dict[str, list[tuple[datetime, Backing]]] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)  # what happened to the data, for the timeline
    _count: int = 0

    def __post_init__(self) -> None:
        self.servers.reset()

    # --- RDS operations ---------------------------------------------------------------------
    def create(self, identifier: str, engine: str, version: str, dbname: str | None) -> None:
        """CreateDBInstance: the instance's database (dbName), owned by the master."""
        server = self.servers.get(engine, version)
        backing = Backing(server, {})
        if dbname:
            backing.databases[dbname] = self._name(dbname)
            as_master(server, f"CREATE DATABASE {_quote(server, backing.databases[dbname])}")
        self.instances[identifier] = backing
        self.keep(identifier)
        self.log.append(f"{identifier}: {_show(backing)} on {_server(server)}")

    def snapshot(self, snapshot: str, identifier: str) -> None:
        """CreateDBSnapshot, or the final snapshot of a DeleteDBInstance."""
        self.snapshots[snapshot] = self._copy(self.instances[identifier])
        self.log.append(f"snapshot {snapshot}: a copy of {identifier}")

    def restore_snapshot(self, identifier: str, snapshot: str) -> None:
        self.instances[identifier] = self._copy(self.snapshots[snapshot])
        self.keep(identifier)
        self.log.append(
            f"{identifier}: {_show(self.instances[identifier])}, a copy of snapshot {snapshot}"
        )

    def restore_time(self, identifier: str, source: str, when: datetime | None) -> datetime:
        """RestoreDBInstanceToPointInTime: the last copy at or before `when` (None: the latest).
        Returns the minute of the copy restored."""
        copies = [(t, b) for t, b in self.history[source] if when is None or t <= when]
        at, backing = copies[-1]
        self.instances[identifier] = self._copy(backing)
        self.keep(identifier)
        self.log.append(
            f"{identifier}: {_show(self.instances[identifier])}, a copy of {source} as of "
            f"{at:%H:%M} (its automated backup of that minute)"
        )
        return at

    def delete(self, identifier: str, final_snapshot: str | None, keep_backups: bool) -> None:
        backing = self.instances.pop(identifier, None)
        if backing is None:
            return
        if final_snapshot:
            self.snapshots[final_snapshot] = self._copy(backing)
            self.log.append(f"final snapshot {final_snapshot}: a copy of {identifier}")
        self._drop(backing)
        self.endpoints = {a: v for a, v in self.endpoints.items() if v[0] != identifier}
        kept = len(self.history.get(identifier, []))
        if not keep_backups:
            for _, copy in self.history.pop(identifier, []):
                self._drop(copy)
            kept = 0
        self.log.append(f"{identifier}: dropped; {kept} automated backup(s) kept")

    def keep(self, identifier: str) -> None:
        """An automated backup of this minute (replacing one taken earlier in the same minute)."""
        history = self.history.setdefault(identifier, [])
        if history and history[-1][0] == self.clock.now:
            self._drop(history.pop()[1])
        history.append((self.clock.now, self._copy(self.instances[identifier])))

    # --- the network ------------------------------------------------------------------------
    def target(self, address: str, port: int | str | None) -> tuple[str, Backing]:
        """The instance an RDS endpoint names, if it is up and backed by a server."""
        identifier, rds_port = self.endpoints.get(address, ("", 0))
        if identifier not in self.instances:
            raise Unreachable(f"dial tcp: lookup {address}: no such host")
        if str(port) != str(rds_port):
            raise Unreachable(f"dial tcp {address}:{port}: connection refused")
        return identifier, self.instances[identifier]

    def route(self, uri: str) -> tuple[str, str]:
        """A client's URI as the world's network sees it: host and port of the local server,
        the instance's database; user, password and options unchanged. Returns the instance's
        identifier and the routed URI."""
        u = urlsplit(uri)
        identifier, backing = self.target(u.hostname or "", u.port)
        dbname = u.path.lstrip("/")
        physical = backing.databases.get(dbname)
        if physical is None:
            raise Unreachable(f"database {dbname!r} does not exist on {identifier}")
        netloc = f"{u.netloc.rsplit('@', 1)[0]}@{backing.server.host}:{backing.server.port}"
        return identifier, urlunsplit((u.scheme, netloc, f"/{physical}", u.query, u.fragment))

    def rows(self, backing: Backing, dbname: str, statement: str) -> list:
        """What the master sees in a database (the world's own check of a copy)."""
        return as_master(backing.server, statement, database=backing.databases[dbname])

    # --- copies -----------------------------------------------------------------------------
    def _name(self, dbname: str) -> str:
        self._count += 1
        return f"{PREFIX}{self._count}_{dbname}"[:63]

    def _copy(self, backing: Backing) -> Backing:
        out = Backing(backing.server, {})
        for dbname, source in backing.databases.items():
            target = self._name(dbname)
            _copy_database(backing.server, source, target)
            out.databases[dbname] = target
        return out

    def _drop(self, backing: Backing) -> None:
        for physical in backing.databases.values():
            force = " WITH (FORCE)" if backing.server.engine == "postgresql" else ""
            as_master(backing.server, f"DROP DATABASE {_quote(backing.server, physical)}{force}")


def _show(backing: Backing) -> str:
    return ", ".join(f"{name} = {physical}" for name, physical in backing.databases.items())


def _server(server: Server) -> str:
    return f"{server.engine} {server.version}"


def connect(uri: str):
    """A client with nothing but a URI, with the engine's standard driver: libpq's URI as it is;
    for MySQL/MariaDB the URI's TLS option in the form Node's mysql drivers read
    (`ssl={"rejectUnauthorized":false}`: encrypted, not verified)."""
    u = urlsplit(uri)
    if u.scheme == "postgresql":
        return psycopg.connect(uri, autocommit=True)
    tls = json.loads(parse_qs(u.query).get("ssl", ["null"])[0])
    ssl_options = None
    if tls is not None:
        ssl_options = ssl.create_default_context()
        if not tls.get("rejectUnauthorized", True):
            ssl_options.check_hostname, ssl_options.verify_mode = False, ssl.CERT_NONE
    return pymysql.connect(
        host=u.hostname,
        port=u.port,
        user=unquote(u.username or ""),
        password=unquote(u.password or ""),
        database=u.path.lstrip("/"),
        ssl=ssl_options,
        autocommit=True,
    )


def _quote(server: Server, name: str) -> str:
    return f'"{name}"' if server.engine == "postgresql" else f"`{name}`"


def _copy_database(server: Server, source: str, target: str) -> None:
    if server.engine == "postgresql":
        # TEMPLATE needs the source without sessions: a provider's or app's connection that is
        # still closing (or autovacuum) makes it wait a moment.
        for attempt in range(50):
            try:
                as_master(server, f'CREATE DATABASE "{target}" TEMPLATE "{source}"')
                return
            except psycopg.errors.ObjectInUse:
                if attempt == 49:
                    raise
                time.sleep(0.1)
    as_master(server, f"CREATE DATABASE `{target}`")
    tables = as_master(
        server,
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = %s AND table_type = 'BASE TABLE'",
        source,
    )
    for (table,) in tables:
        as_master(server, f"CREATE TABLE `{target}`.`{table}` LIKE `{source}`.`{table}`")
        as_master(server, f"INSERT INTO `{target}`.`{table}` SELECT * FROM `{source}`.`{table}`")


@contextlib.contextmanager
def servers() -> Iterator[Servers]:
    s = Servers()
    try:
        yield s
    finally:
        s.close()
