"""Replays exactly the SQL provider-sql (b46be88) runs for our composed resources.

Source: crossplane-contrib/provider-sql at b46be88, pkg/controller/{postgresql,mysql}/*/reconciler.go
and pkg/clients/{postgresql,mysql,xsql}. Every statement runs on a fresh autocommit
connection as the ProviderConfig's user (the RDS master), except the transactions marked there.
Connection details come back the way the provider publishes them.
"""

from __future__ import annotations

import re
import secrets
import string

import psycopg
import pymysql

from tests.sqlservers import MASTER_PASSWORD, MASTER_USER, Server

_ALPHABET = string.ascii_letters + string.digits
_CLAUSES = (  # fixed order of role/utils.go
    ("superUser", "SUPERUSER"),
    ("inherit", "INHERIT"),
    ("createDb", "CREATEDB"),
    ("createRole", "CREATEROLE"),
    ("login", "LOGIN"),
    ("replication", "REPLICATION"),
    ("bypassRls", "BYPASSRLS"),
)
_OBJECT_TYPES = {"table": "TABLES", "sequence": "SEQUENCES", "function": "FUNCTIONS"}


def generate_password() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(27))  # crossplane-runtime password


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def external_name(body: dict) -> str:
    return body["metadata"]["annotations"]["crossplane.io/external-name"]


class PostgresProvider:
    def __init__(self, server: Server, provider_config: dict):
        self.server = server
        spec = provider_config["spec"]
        self.default_db = spec.get("defaultDatabase", "postgres")
        self.sslmode = spec.get("sslMode", "verify-full")
        self.statements: list[str] = []

    def _connect(self, database: str, autocommit: bool = True) -> psycopg.Connection:
        return psycopg.connect(
            host=self.server.host,
            port=self.server.port,
            user=MASTER_USER,
            password=MASTER_PASSWORD,
            dbname=database,
            sslmode=self.sslmode,
            autocommit=autocommit,
        )

    def _run(self, database: str, *statements: str) -> None:
        """One statement: its own connection; several: one transaction (ExecTx)."""
        with self._connect(database, autocommit=len(statements) == 1) as conn:
            for statement in statements:
                self.statements.append(statement)
                conn.execute(statement)

    def create(self, body: dict) -> dict[str, str]:
        fp = body["spec"]["forProvider"]
        kind = body["kind"]
        if kind == "Role":
            name = external_name(body)
            password = generate_password()
            privileges = fp.get("privileges", {})
            clauses = " ".join(
                clause if privileges[key] else f"NO{clause}"
                for key, clause in _CLAUSES
                if key in privileges
            )
            self._run(
                self.default_db, f"CREATE ROLE {ident(name)} PASSWORD {literal(password)} {clauses}"
            )
            for p in fp.get("configurationParameters", []):
                self._run(
                    self.default_db,
                    f"ALTER ROLE {ident(name)} set {ident(p['name'])}={ident(p['value'])}",
                )
            return {
                "username": name,
                "password": password,
                "endpoint": self.server.host,
                "port": str(self.server.port),
            }
        if kind == "Grant":
            self._run(fp.get("database", self.default_db), *self._grant(fp))
            return {}
        if kind == "DefaultPrivileges":
            objects = _OBJECT_TYPES[fp["objectType"]]
            head = f"ALTER DEFAULT PRIVILEGES FOR ROLE {ident(fp['targetRole'])}"
            if fp.get("schema"):
                head += f" IN SCHEMA {ident(fp['schema'])}"
            privileges = ",".join(fp["privileges"])
            self._run(
                fp.get("database", self.default_db),
                f"{head} REVOKE ALL ON {objects} FROM {ident(fp['role'])}",
                f"{head} GRANT {privileges} ON {objects} TO {ident(fp['role'])} ",
            )
            return {}
        if kind == "Extension":
            # extension/reconciler.go: forProvider.schema is not used by Create.
            statement = f"CREATE EXTENSION IF NOT EXISTS {ident(fp['extension'])}"
            if fp.get("version"):
                statement += f" WITH VERSION {ident(fp['version'])}"
            self._run(fp.get("database", self.default_db), statement)
            return {}
        raise AssertionError(f"no replay for {kind}")

    def _grant(self, fp: dict) -> list[str]:
        role = ident(fp["role"])
        if "memberOf" in fp:
            member = ident(fp["memberOf"])
            return [f"REVOKE {member} FROM {role}", f"GRANT {member} TO {role} "]
        privileges = ",".join(fp["privileges"])
        on = (
            f"SCHEMA {ident(fp['schema'])}"
            if "schema" in fp
            else f"DATABASE {ident(fp['database'])}"
        )
        return [
            f"REVOKE {privileges} ON {on} FROM {role}",
            f"GRANT {privileges} ON {on} TO {role} ",
        ]

    def _query(self, database: str, statement: str, *args) -> list:
        with self._connect(database) as conn:
            return conn.execute(statement, args).fetchall()

    def up_to_date(self, body: dict) -> bool:
        """The provider's Observe: does the resource exist exactly as specified (no re-create)?"""
        fp = body["spec"]["forProvider"]
        if body["kind"] == "Role":
            rows = self._query(
                self.default_db,
                "SELECT rolsuper, rolinherit, rolcreatedb, rolcreaterole, rolcanlogin, "
                "rolreplication, rolbypassrls, rolconnlimit, rolconfig FROM pg_roles "
                "WHERE rolname = %s",
                external_name(body),
            )
            if not rows:
                return False
            have = dict(zip([k for k, _ in _CLAUSES], rows[0][:7], strict=True))
            privileges = fp.get("privileges", {})
            config = {kv.split("=")[0]: kv.split("=")[1] for kv in rows[0][8] or []}
            want = {p["name"]: p["value"] for p in fp.get("configurationParameters", [])}
            return all(have[k] == v for k, v in privileges.items()) and config == want
        if body["kind"] == "Grant":
            if "memberOf" in fp:
                return self._query(
                    self.default_db,
                    "SELECT EXISTS(SELECT 1 FROM pg_auth_members m INNER JOIN pg_roles mo ON "
                    "m.roleid = mo.oid INNER JOIN pg_roles r ON m.member = r.oid WHERE "
                    "r.rolname=%s AND mo.rolname=%s AND m.admin_option = false)",
                    fp["role"],
                    fp["memberOf"],
                )[0][0]
            if "schema" in fp:
                table, acl, name = "pg_namespace n", "n.nspacl", "n.nspname"
                target = fp["schema"]
            else:
                table, acl, name = "pg_database db", "db.datacl", "db.datname"
                target = fp["database"]
            return self._query(
                fp["database"],
                f"SELECT EXISTS(SELECT 1 FROM {table}, aclexplode({acl}) as acl INNER JOIN "
                f"pg_roles s ON acl.grantee = s.oid WHERE {name}=%s AND s.rolname=%s AND "
                f"acl.is_grantable=false GROUP BY {name}, s.rolname, acl.is_grantable HAVING "
                "array_agg(acl.privilege_type ORDER BY privilege_type ASC) = "
                "(SELECT array(SELECT unnest(%s::text[]) as perms ORDER BY perms ASC)))",
                target,
                fp["role"],
                fp["privileges"],
            )[0][0]
        if body["kind"] == "DefaultPrivileges":
            objtype = {"table": "r", "sequence": "S", "function": "f"}[fp["objectType"]]
            rows = self._query(
                fp.get("database", self.default_db),
                "select distinct(default_acl.privilege_type) from pg_roles r join (SELECT "
                "defaclnamespace, (aclexplode(defaclacl)).* FROM pg_default_acl WHERE "
                "defaclobjtype = %s) default_acl on r.oid = default_acl.grantee where "
                "r.rolname = %s;",
                objtype,
                fp["role"],
            )
            return sorted(r[0] for r in rows) == sorted(fp["privileges"])
        if body["kind"] == "Extension":
            rows = self._query(
                fp.get("database", self.default_db),
                "SELECT extversion FROM pg_extension WHERE extname = %s",
                fp["extension"],
            )
            return bool(rows) and fp.get("version") in (None, rows[0][0])
        raise AssertionError(f"no observe for {body['kind']}")

    def delete(self, body: dict) -> None:
        fp = body["spec"]["forProvider"]
        if body["kind"] == "Role":
            self._run(self.default_db, f"DROP ROLE IF EXISTS {ident(external_name(body))}")
        elif body["kind"] == "Grant":
            database = self.default_db if "memberOf" in fp else fp.get("database", self.default_db)
            self._run(database, self._grant(fp)[0])
        elif body["kind"] == "Extension":
            # No CASCADE: PostgreSQL refuses while anything depends on the extension.
            database = fp.get("database", self.default_db)
            self._run(database, f"DROP EXTENSION IF EXISTS {ident(fp['extension'])}")
        else:
            raise AssertionError(f"no delete replay for {body['kind']}")


class MysqlProvider:
    def __init__(self, server: Server, provider_config: dict):
        self.server = server
        self.statements: list[str] = []

    def _connect(self) -> pymysql.Connection:
        return pymysql.connect(
            host=self.server.host,
            port=self.server.port,
            user=MASTER_USER,
            password=MASTER_PASSWORD,
            ssl={"check_hostname": False},  # tls=skip-verify
            autocommit=True,
        )

    def _run(self, statement: str) -> None:
        conn = self._connect()
        with conn, conn.cursor() as cur:
            self.statements.append(statement)
            cur.execute(statement)

    @staticmethod
    def _user(name: str) -> str:
        user, _, host = name.partition("@")
        return f"'{user}'@'{host or '%'}'"

    def create(self, body: dict) -> dict[str, str]:
        fp = body["spec"]["forProvider"]
        if body["kind"] == "User":
            name = external_name(body)
            password = generate_password()
            self._run(f"CREATE USER {self._user(name)} IDENTIFIED BY '{password}'")
            return {
                "username": name.partition("@")[0],
                "password": password,
                "endpoint": self.server.host,
                "port": str(self.server.port),
            }
        if body["kind"] == "Grant":
            self._run(
                f"GRANT {', '.join(fp['privileges'])} ON {self._on(fp)} TO {self._user(fp['user'])}"
            )
            return {}
        raise AssertionError(f"no replay for {body['kind']}")

    def up_to_date(self, body: dict) -> bool:
        """The provider's Observe: does the resource exist exactly as specified (no re-create)?"""
        fp = body["spec"]["forProvider"]
        conn = self._connect()
        with conn, conn.cursor() as cur:
            if body["kind"] == "User":
                user, _, host = external_name(body).partition("@")
                cur.execute(
                    "SELECT max_questions FROM mysql.user WHERE User = %s AND Host = %s",
                    (user, host or "%"),
                )
                return cur.fetchone() is not None
            cur.execute(f"SHOW GRANTS FOR {self._user(fp['user'])}")
            pattern = re.compile(r"^GRANT (.+) ON (\S+)\.(\S+) TO \S+@\S+?(\sWITH GRANT OPTION)?$")
            for (row,) in cur.fetchall():
                m = pattern.match(row)
                if not m or m.group(2) != f"`{fp['database']}`" or m.group(3) != "*":
                    continue
                have = {p.strip() for p in m.group(1).split(",")} - {"USAGE"}
                want = set(fp["privileges"])
                alias = {"ALL PRIVILEGES": "ALL"}
                return {alias.get(p, p) for p in have} == {alias.get(p, p) for p in want}
            return False

    @staticmethod
    def _on(fp: dict) -> str:
        db = f"`{fp['database']}`" if fp.get("database", "*") != "*" else "*"
        table = f"`{fp['table']}`" if fp.get("table", "*") != "*" else "*"
        return f"{db}.{table}"

    def delete(self, body: dict) -> None:
        fp = body["spec"]["forProvider"]
        if body["kind"] == "User":
            self._run(f"DROP USER IF EXISTS {self._user(external_name(body))}")
        elif body["kind"] == "Grant":
            try:
                privileges = ", ".join(fp["privileges"])
                self._run(f"REVOKE {privileges} ON {self._on(fp)} FROM {self._user(fp['user'])}")
            except pymysql.err.OperationalError as err:
                if err.args[0] != 1141:  # the provider ignores "no such grant"
                    raise
        else:
            raise AssertionError(f"no delete replay for {body['kind']}")


def provider_for(server: Server, provider_config: dict):
    return (PostgresProvider if server.engine == "postgresql" else MysqlProvider)(
        server, provider_config
    )
