"""The built-in parameter catalog and extension allow list, checked against real servers.

PostgreSQL 15, 16, 17: every parameter's name, type, unit, enum values and context agree with
pg_settings, our range lies inside the server's, and the values `validate` produces are accepted by
the server. Every allow-listed extension the local server ships is created through provider-sql's
Extension SQL and used by a binding. MariaDB 10.11: every parameter exists and takes its bounds with
SET GLOBAL. With TLS enforced (require_secure_transport / a hostssl-only pg_hba, as rds.force_ssl=1
does) a binding's plaintext connection is refused and its TLS connection works.
"""

from __future__ import annotations

import shutil
import tempfile
from decimal import Decimal
from pathlib import Path

import psycopg
import pymysql
import pytest

from function import extensions, parameters, sql
from function.mode import Mode
from tests import crds
from tests.sqlprovider import PostgresProvider, provider_for
from tests.sqlservers import DB_NAME, MASTER_USER, mariadb, postgresql

pytestmark = pytest.mark.sql

MODE = Mode(False, "team", "orders", "crossplane-system")
PC = "orders-pc"
PROVIDER_CONFIG = {"spec": {"defaultDatabase": DB_NAME, "sslMode": "require"}}

# What each extension is for, as one statement a binding runs (in a scratch schema it owns).
USE = {
    "pg_trgm": "SELECT similarity('orders', 'order') > 0",
    "pgcrypto": "SELECT encode(digest('x', 'sha256'), 'hex') <> ''",
    "uuid-ossp": "SELECT uuid_generate_v4() IS NOT NULL",
    "citext": "CREATE TABLE use_citext (email citext UNIQUE)",
    "hstore": "SELECT ('a=>1'::hstore -> 'a') = '1'",
    "btree_gin": "CREATE TABLE use_gin (n int); CREATE INDEX ON use_gin USING gin (n)",
    "btree_gist": "CREATE TABLE use_gist (n int); CREATE INDEX ON use_gist USING gist (n)",
    "unaccent": "SELECT unaccent('Hôtel') = 'Hotel'",
    "tablefunc": "SELECT count(*) = 3 FROM normal_rand(3, 0, 1)",
    "fuzzystrmatch": "SELECT levenshtein('kitten', 'sitting') = 3",
    "ltree": "SELECT 'top.orders'::ltree @> 'top.orders.eu'::ltree",
    "intarray": "SELECT icount('{1,2,3}'::int[]) = 3",
    "pg_stat_statements": "SELECT count(*) >= 0 FROM pg_stat_statements",
}


def _tempdir(tag: str) -> Path:
    # Not under pytest's tmp_path: the postgres user must be able to reach its data directory.
    base = Path(tempfile.mkdtemp(prefix=f"function-rds-params-{tag}-"))
    base.chmod(0o755)
    return base


class Pg:
    def __init__(self, server, workdir: Path):
        self.server, self.workdir = server, workdir
        self.provider = PostgresProvider(server, PROVIDER_CONFIG)
        self.creds: dict[str, str] = {}  # the binding's Secret

    def superuser(self, database: str = "postgres") -> psycopg.Connection:
        """The local superuser over the socket: stands in for RDS's rds_superuser and for
        changing pg_hba.conf, which on RDS the platform does through rds.force_ssl."""
        return psycopg.connect(
            host=str(self.workdir),
            port=self.server.port,
            user="postgres",
            dbname=database,
            autocommit=True,
        )


@pytest.fixture(scope="module", params=["15", "16", "17"])
def pg(request) -> Pg:
    base = _tempdir(f"pg{request.param}")
    try:
        with postgresql(request.param, base / "server") as server:
            pg = Pg(server, base / "server")
            pg.creds = _binding(pg)
            yield pg
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def maria():
    base = _tempdir("mariadb")
    try:
        with mariadb(base / "server") as server:
            yield server
    finally:
        shutil.rmtree(base, ignore_errors=True)


_VARTYPE = {
    "integer": "integer",
    "real": "real",
    "bool": "bool",
    "enum": "enum",
    "list": "string",
    "string": "string",
}


def test_catalog_agrees_with_pg_settings(pg):
    major = pg.server.version
    with pg.superuser() as su:
        for name, spec in parameters.offered("postgresql", major).items():
            row = su.execute(
                "SELECT vartype, unit, min_val, max_val, enumvals, context FROM pg_settings "
                "WHERE lower(name) = lower(%s)",
                (name,),
            ).fetchone()
            assert row is not None, f"{name} does not exist on PostgreSQL {major}"
            vartype, unit, lo, hi, enumvals, context = row
            assert (name, _VARTYPE[spec.type]) == (name, vartype)
            assert (name, spec.unit) == (name, unit)
            if spec.type == "enum":
                assert (name, sorted(spec.values)) == (name, sorted(enumvals))
            if spec.type in ("integer", "real"):
                assert Decimal(lo) <= Decimal(str(spec.min)), name
                assert Decimal(str(spec.max)) <= Decimal(hi), name
            # GUC names are case-insensitive (pg_settings says TimeZone, RDS timezone).
            # postmaster parameters take effect only at a restart: RDS's static parameters.
            assert (name, spec.reboot) == (name, context == "postmaster")


def _samples(spec: parameters.ParameterSpec) -> list[object]:
    """Friendly inputs a developer may write: the bounds as shown in messages, every choice."""
    if spec.type in ("integer", "real"):
        return [parameters.show(spec, spec.min), parameters.show(spec, spec.max)]
    if spec.type == "bool":
        return [True, False]
    if spec.type == "enum":
        return [v.upper() for v in spec.values]
    if spec.type == "string":
        return ["UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires"]
    return [spec.values]


def test_normalized_values_are_accepted_by_the_server(pg):
    major = pg.server.version
    checked = []
    with pg.superuser() as su:
        for name, spec in parameters.offered("postgresql", major).items():
            context = su.execute(
                "SELECT context FROM pg_settings WHERE lower(name) = lower(%s)", (name,)
            ).fetchone()[0]
            for sample in _samples(spec):
                normalized, problems = parameters.validate("postgresql", major, {name: sample})
                assert problems == []
                value = normalized[name]
                if context not in ("user", "superuser"):
                    continue  # needs a reload or restart; bounds checked against pg_settings
                with su.transaction():
                    su.execute("SELECT set_config(%s, %s, true)", (name, value))
                    setting = su.execute(
                        "SELECT setting FROM pg_settings WHERE lower(name) = lower(%s)", (name,)
                    ).fetchone()[0]
                    if spec.type in ("integer", "real"):
                        assert Decimal(setting) == Decimal(value), (name, sample)
                    elif spec.type == "bool":
                        assert setting == {"1": "on", "0": "off"}[value], (name, sample)
                    else:
                        assert setting == value, (name, sample)
                checked.append(name)
    assert {"work_mem", "statement_timeout", "log_statement", "timezone"} <= set(checked)


def _binding(pg: Pg) -> dict[str, str]:
    """Group roles and one readWrite binding user, made through provider-sql's SQL."""
    p = pg.provider
    for body in sql.compose_groups(MODE, PC, DB_NAME, "orders", MASTER_USER).values():
        p.create(body)
    user = sql.compose_user(MODE, "postgresql", PC, "b_ext", "readWrite", "b-ext")
    creds = p.create(user)
    p.create(sql.compose_grant(MODE, "postgresql", PC, "b_ext", "readWrite", DB_NAME))
    return creds


def _connect_as(pg: Pg, creds: dict[str, str], sslmode: str = "require") -> psycopg.Connection:
    return psycopg.connect(
        host=creds["endpoint"],
        port=int(creds["port"]),
        user=creds["username"],
        password=creds["password"],
        dbname=DB_NAME,
        sslmode=sslmode,
        autocommit=True,
    )


def test_extensions_are_created_through_provider_sql_and_used_by_a_binding(pg):
    major = pg.server.version
    with pg.superuser() as su:
        shipped = {r[0] for r in su.execute("SELECT name FROM pg_available_extensions")}
    tested = sorted(n for n in extensions.DEFAULT_EXTENSIONS if n in shipped)
    # pgvector, PostGIS and pg_cron are not in the PostgreSQL distribution: RDS ships them.
    assert set(extensions.DEFAULT_EXTENSIONS) - shipped == {"vector", "postgis", "pg_cron"}
    creds = pg.creds
    for name in tested:
        ext = extensions.DEFAULT_EXTENSIONS[name]
        assert extensions.validate(major, [name], {"shared_preload_libraries": name}) == []
        body = extensions.compose_extension(
            name, database=DB_NAME, provider_config_name=PC, namespaced=False, owner="orders"
        )
        crds.validate(body)
        assert not pg.provider.up_to_date(body)
        if ext.trusted:
            pg.provider.create(body)  # as the RDS-like master, no superuser
        else:
            # Untrusted: the master alone cannot; RDS's master can through rds_superuser.
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                pg.provider.create(body)
            with pg.superuser(DB_NAME) as su:
                su.execute(pg.provider.statements[-1])
        assert pg.provider.up_to_date(body)
        pg.provider.create(body)  # IF NOT EXISTS: a second Create changes nothing
        with _connect_as(pg, creds) as app:
            if name == "pg_stat_statements":
                # Why the catalog insists on the preload (the local server has none).
                with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="shared_"):
                    app.execute(USE[name])
            else:
                for statement in USE[name].split("; "):
                    row = app.execute(statement)
                    if statement.startswith("SELECT"):
                        assert row.fetchone()[0] is True, (name, statement)


def test_an_extension_in_use_is_not_dropped(pg):
    creds = pg.creds
    body = extensions.compose_extension(
        "citext", database=DB_NAME, provider_config_name=PC, namespaced=False, owner="orders"
    )
    pg.provider.create(body)
    with _connect_as(pg, creds) as app:
        app.execute("CREATE TABLE IF NOT EXISTS keep_citext (email citext)")
    with pytest.raises(psycopg.errors.DependentObjectsStillExist):
        pg.provider.delete(body)
    assert pg.provider.up_to_date(body)
    with _connect_as(pg, creds) as app:
        app.execute("DROP TABLE keep_citext")
        app.execute("DROP TABLE IF EXISTS use_citext")
    pg.provider.delete(body)
    assert not pg.provider.up_to_date(body)


def test_hostssl_only_refuses_plaintext(pg):
    """rds.force_ssl=1 refuses connections without TLS; locally: pg_hba with hostssl only."""
    creds = pg.creds
    with _connect_as(pg, creds, sslmode="disable"):
        pass  # without enforcement plaintext works
    with pg.superuser() as su:
        hba = Path(su.execute("SHOW hba_file").fetchone()[0])
        original = hba.read_text()
        hba.write_text("local all all trust\nhostssl all all 127.0.0.1/32 scram-sha-256\n")
        assert su.execute("SELECT pg_reload_conf()").fetchone()[0]
        try:
            with pytest.raises(psycopg.OperationalError, match="no encryption"):
                _connect_as(pg, creds, sslmode="disable")
            with _connect_as(pg, creds, sslmode="require") as app:
                assert app.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        finally:
            hba.write_text(original)
            su.execute("SELECT pg_reload_conf()")


def _mysql_bounds(spec: parameters.ParameterSpec) -> list[object]:
    if spec.type in ("integer", "real"):
        return [parameters.show(spec, spec.min), parameters.show(spec, spec.max)]
    if spec.type == "bool":
        return [True, False]
    return [spec.values]


def test_mariadb_parameters_exist_and_take_their_bounds(maria):
    provider = provider_for(maria, {})
    conn = provider._connect()
    with conn, conn.cursor() as cur:
        for name, spec in parameters.offered("mariadb", "10.11").items():
            cur.execute("SHOW GLOBAL VARIABLES LIKE %s", (name,))
            row = cur.fetchone()
            assert row is not None, f"{name} does not exist on MariaDB 10.11"
            original = row[1]
            try:
                for sample in _mysql_bounds(spec):
                    normalized, problems = parameters.validate("mariadb", "10.11", {name: sample})
                    assert problems == []
                    value = normalized[name]
                    literal = f"'{value}'" if spec.type == "list" else value
                    cur.execute(f"SET GLOBAL {name} = {literal}")
                    cur.execute("SHOW WARNINGS")
                    # MariaDB clamps out-of-range values (and warns of odd ones) instead of failing.
                    assert cur.fetchall() == (), (name, value)
                    cur.execute("SHOW GLOBAL VARIABLES LIKE %s", (name,))
                    got = cur.fetchone()[1]
                    if spec.type in ("integer", "real"):
                        assert Decimal(got) == Decimal(value), (name, sample, got)
                    elif spec.type == "bool":
                        assert got == {"1": "ON", "0": "OFF"}[value], (name, sample, got)
                    else:
                        assert set(got.split(",")) == set(value.split(",")), (name, got)
            finally:
                quoted = original if original.replace(".", "").isdigit() else f"'{original}'"
                cur.execute(f"SET GLOBAL {name} = {quoted}")


def test_require_secure_transport_refuses_plaintext(maria):
    provider = provider_for(maria, {})
    user = sql.compose_user(MODE, "mariadb", PC, "b_tls", "readWrite", "b-tls")
    creds = provider.create(user)
    provider.create(sql.compose_grant(MODE, "mariadb", PC, "b_tls", "readWrite", DB_NAME))

    def connect(tls: bool) -> pymysql.Connection:
        return pymysql.connect(
            host=creds["endpoint"],
            port=int(creds["port"]),
            user=creds["username"],
            password=creds["password"],
            database=DB_NAME,
            # pymysql negotiates TLS whenever the server offers it, unless told not to.
            **({"ssl": {"check_hostname": False}} if tls else {"ssl_disabled": True}),
        )

    def cipher(conn: pymysql.Connection) -> str:
        with conn, conn.cursor() as cur:
            cur.execute("SHOW STATUS LIKE 'Ssl_cipher'")
            return cur.fetchone()[1]

    assert cipher(connect(tls=False)) == ""  # without enforcement plaintext works
    body = parameters.compose_parameter_group(
        "mariadb",
        "10.11.10",
        {},
        name="g",
        region="eu-central-1",
        namespaced=False,
        provider_config={"name": "default"},
        tags={},
    )
    (tls_param,) = body["spec"]["forProvider"]["parameter"]
    provider._run(f"SET GLOBAL {tls_param['name']} = {tls_param['value']}")
    try:
        # MariaDB 10.11 answers a plaintext login with "Access denied" (1045); the same
        # credentials over TLS get in.
        with pytest.raises(pymysql.err.OperationalError, match="Access denied"):
            connect(tls=False)
        assert cipher(connect(tls=True)) != ""
    finally:
        provider._run("SET GLOBAL require_secure_transport = OFF")
