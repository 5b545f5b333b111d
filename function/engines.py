"""The engines: everything that differs between PostgreSQL, MySQL and MariaDB, in one table.

Every module asks this table instead of comparing engine names: RDS's engine name, the developer's
kind, the SQL provider's API group and user kind, the servicebinding.io type (also the URI scheme),
the parameter that makes the server refuse plaintext, how RDS counts a major version (and so the
parameter group family), and whether the engine has extensions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Literal, get_args
from urllib.parse import quote

# The engine names developers write (spec.serviceInstanceType) and the platform's catalog uses.
Name = Literal["postgresql", "mysql", "mariadb"]


@dataclass(frozen=True)
class Engine:
    name: str  # postgresql
    kind: str  # the developer's kind: PostgresqlInstance
    rds: str  # RDS's engine name: postgres
    # provider-sql: the API group (postgresql.sql.crossplane.io), the kind of a login user, and
    # the ProviderConfig's credentials source.
    sql_group: str
    user_kind: str
    sql_credentials: str
    # servicebinding.io type, also the URI scheme. MariaDB speaks MySQL's protocol, and client
    # libraries (kube-service-bindings, Spring Cloud Bindings) look up MariaDB bindings as mysql.
    binding_type: str
    # The uri's TLS query without and with a CA to verify against, as the engine's common drivers
    # read it from a URL. PostgreSQL: libpq (psycopg, ...) and node-postgres read sslmode; the CA
    # is not in the URL (its path in the app is unknown here): libpq takes PGSSLROOTCERT, Node
    # NODE_EXTRA_CA_CERTS. MySQL: mysql2 reads `ssl` as JSON and checks the host only with
    # verifyIdentity; other drivers take their TLS options in code (README).
    uri_tls: tuple[str, str]
    # The Secret key naming the CA file, for clients that read one (Spring Cloud Bindings adds
    # sslrootcert=<binding directory>/<this value> to its PostgreSQL URLs).
    ca_file_key: str | None
    # The server parameter that refuses plaintext connections (always set unless the platform
    # allows plaintext).
    tls_parameter: str
    # How many leading parts of a version RDS counts as its major: 17 for PostgreSQL 17.5, 8.4 for
    # MySQL 8.4.5, 10.11 for MariaDB 10.11.11.
    major_parts: int
    extensions: bool  # CREATE EXTENSION (PostgreSQL)
    # Privileges live on group roles each login user switches to (PostgreSQL: the objects a
    # binding creates stay usable by the others); MySQL and MariaDB grant to each user directly.
    group_roles: bool

    def major(self, version: str) -> str:
        return ".".join(version.split(".")[: self.major_parts])

    def family(self, version: str) -> str:
        """The parameter group family: postgres17, mysql8.4, mariadb10.11."""
        return self.rds + self.major(version)


def _mysql_ssl(options: dict) -> str:
    return "ssl=" + quote(json.dumps(options, separators=(",", ":")), safe="")


MYSQL = Engine(
    name="mysql",
    kind="MysqlInstance",
    rds="mysql",
    sql_group="mysql",
    user_kind="User",
    sql_credentials="MySQLConnectionSecret",
    binding_type="mysql",
    uri_tls=(
        _mysql_ssl({"rejectUnauthorized": False}),
        _mysql_ssl({"rejectUnauthorized": True, "verifyIdentity": True}),
    ),
    ca_file_key=None,
    tls_parameter="require_secure_transport",
    major_parts=2,
    extensions=False,
    group_roles=False,
)

ENGINES: dict[str, Engine] = {
    e.name: e
    for e in (
        Engine(
            name="postgresql",
            kind="PostgresqlInstance",
            rds="postgres",
            sql_group="postgresql",
            user_kind="Role",
            sql_credentials="PostgreSQLConnectionSecret",
            binding_type="postgresql",
            uri_tls=("sslmode=require", "sslmode=verify-full"),
            ca_file_key="sslrootcert",
            tls_parameter="rds.force_ssl",
            major_parts=1,
            extensions=True,
            group_roles=True,
        ),
        MYSQL,
        # MariaDB speaks MySQL's protocol: provider-sql's mysql group, mysql bindings, the same
        # TLS parameter and version rule.
        replace(MYSQL, name="mariadb", kind="MariadbInstance", rds="mariadb"),
    )
}
assert tuple(ENGINES) == get_args(Name), "engines.Name and ENGINES list the same engines"

_BY_KIND = {e.kind: e for e in ENGINES.values()}
_BY_RDS = {e.rds: e for e in ENGINES.values()}


def get(name: str) -> Engine:
    return ENGINES[name]


def of_kind(kind: str) -> Engine | None:
    """The engine of an instance kind (claim or composite: XPostgresqlInstance), else None."""
    return _BY_KIND.get(kind.removeprefix("X"))


def of_rds(rds_engine: str) -> Engine | None:
    """The engine of RDS's engine name (postgres), else None."""
    return _BY_RDS.get(rds_engine)
