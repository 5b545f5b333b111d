"""The SQL provider's resources: the per-instance group roles and each binding's user and grants.

PostgreSQL: every readWrite binding's login role is NOINHERIT and starts each session as the
instance's group role `klutch_rw` (ALTER ROLE ... SET role), so whatever any binding creates is
owned by that one group role and every readWrite binding can use and change it, and a binding's
own role never owns anything: dropping it cannot fail and loses nothing. readOnly bindings start
as `klutch_ro`, which may only SELECT, through default privileges of `klutch_rw`'s tables.

MySQL/MariaDB have no object ownership: a user with ALL on the database (readWrite) or SELECT and
SHOW VIEW (readOnly) is enough.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from function import engines, naming, structs

if TYPE_CHECKING:
    from function.mode import Mode

RW_GROUP = "klutch_rw"
RO_GROUP = "klutch_ro"
SCHEMA = "public"
USERNAME_MAX = 32  # MySQL's limit; also well inside PostgreSQL's 63

# Names of the instance's composed group resources (PostgreSQL only).
GROUP_RESOURCES = (
    "sql-role-rw",
    "sql-role-ro",
    "sql-grant-rw-database",
    "sql-grant-rw-schema",
    "sql-grant-ro-database",
    "sql-grant-ro-schema",
    "sql-grant-master-rw",
    "sql-default-privileges-ro-tables",
    "sql-default-privileges-ro-sequences",
)


def compose_provider_config(
    m: Mode, engine: str, identifier: str, db_name: str, ssl_mode: str
) -> dict:
    """The instance's ProviderConfig: the SQL provider connects as the master user, with the
    connection details the AWS provider published."""
    secret = {"name": naming.connection_secret(identifier)}
    if not m.namespaced:
        secret["namespace"] = m.secret_namespace
    e = engines.get(engine)
    credentials: dict = {
        "source": e.sql_credentials,
        "connectionSecretRef": secret,
        # The RDS secret's `endpoint` is host:port; the SQL provider needs the bare host.
        "secretKeyMapping": {"endpoint": "address"},
    }
    spec: dict = {"credentials": credentials}
    if e.sql_group == "postgresql":
        spec["sslMode"] = ssl_mode
        spec["defaultDatabase"] = db_name
    else:
        spec["tls"] = _MYSQL_TLS[ssl_mode]
    return {
        "apiVersion": m.sql_api(engine),
        "kind": "ProviderConfig",
        "metadata": {"name": naming.sql_provider_config(identifier)},
        "spec": spec,
    }


# RDS certificates do not chain to public roots, so "require" means encrypted without verifying.
_MYSQL_TLS = {
    "disable": "preferred",
    "require": "skip-verify",
}


def group_for(role: str) -> str:
    return RO_GROUP if role == "readOnly" else RW_GROUP


@functools.lru_cache(maxsize=4096)  # every request of a binding names its user again
def username(namespace: str, name: str) -> str:
    """A database user name ([a-z0-9_], letter first, at most 32 characters) for a binding."""
    clean = "".join(c if c.isalnum() else "_" for c in name.lower())
    suffix = naming.digest(namespace, name)
    head = clean[: USERNAME_MAX - len(suffix) - 3].strip("_")
    return f"b_{head}_{suffix}" if head else f"b_{suffix}"


def _mr(m: Mode, engine: str, kind: str, external: str | None, fp: dict, pc: str, **spec) -> dict:
    body: dict = {
        "apiVersion": m.sql_api(engine),
        "kind": kind,
        "metadata": {},
        "spec": {"forProvider": fp, "providerConfigRef": m.sql_provider_config_ref(pc), **spec},
    }
    if external:
        body["metadata"]["annotations"] = {naming.EXTERNAL_NAME: external}
    return body


def compose_groups(
    m: Mode, provider_config: str, db: str, secret_prefix: str, master: str
) -> dict[str, dict]:
    """The PostgreSQL group roles, their grants and default privileges, owned by the instance.

    They live inside the database and go with it: never dropped on their own (they own the data).
    The master user joins klutch_rw: PostgreSQL lets only members set default privileges for a
    role, and RDS's master is no superuser.
    """
    keep = m.retain()

    def role(name: str) -> dict:
        return _mr(
            m,
            "postgresql",
            "Role",
            name,
            {"privileges": {"login": False, "inherit": True}},
            provider_config,
            # A NOLOGIN role's password is never used; keeping it stops the provider rotating it.
            writeConnectionSecretToRef=m.secret_ref(f"{secret_prefix}-{name.replace('_', '-')}"),
            **keep,
        )

    def grant(grantee: str, privileges: list[str], schema: str | None = None) -> dict:
        fp: dict = {"role": grantee, "database": db, "privileges": privileges}
        if schema:
            fp["schema"] = schema
        return _mr(m, "postgresql", "Grant", None, fp, provider_config, **keep)

    def default_privileges(object_type: str) -> dict:
        fp = {
            "role": RO_GROUP,
            "targetRole": RW_GROUP,
            "database": db,
            "schema": SCHEMA,
            "objectType": object_type,
            "privileges": ["SELECT"],
        }
        return _mr(m, "postgresql", "DefaultPrivileges", None, fp, provider_config, **keep)

    return dict(
        zip(
            GROUP_RESOURCES,
            (
                role(RW_GROUP),
                role(RO_GROUP),
                grant(RW_GROUP, ["CONNECT", "CREATE", "TEMPORARY"]),
                grant(RW_GROUP, ["CREATE", "USAGE"], SCHEMA),
                grant(RO_GROUP, ["CONNECT"]),
                grant(RO_GROUP, ["USAGE"], SCHEMA),
                _mr(
                    m,
                    "postgresql",
                    "Grant",
                    None,
                    {"role": master, "memberOf": RW_GROUP},
                    provider_config,
                    **keep,
                ),
                default_privileges("table"),
                default_privileges("sequence"),
            ),
            strict=True,
        )
    )


@functools.lru_cache(maxsize=1024)
def compose_groups_serialized(
    m: Mode, provider_config: str, db: str, secret_prefix: str, master: str
) -> tuple[tuple[str, bytes], ...]:
    """compose_groups, each body serialized (structs.serialized). Nine of an instance's thirteen
    resources, the same on every request of the instance: built and encoded once (immutable
    bytes, a few KB per instance)."""
    groups = compose_groups(m, provider_config, db, secret_prefix, master)
    return tuple((name, structs.serialized(body)) for name, body in groups.items())


def compose_user(
    m: Mode, engine: str, provider_config: str, user: str, role: str, connection_secret: str
) -> dict:
    if engines.get(engine).group_roles:
        fp = {
            "privileges": {
                "login": True,
                # Privileges come only from the group role each session switches to.
                "inherit": False,
                "superUser": False,
                "createDb": False,
                "createRole": False,
                "replication": False,
                "bypassRls": False,
            },
            "configurationParameters": [{"name": "role", "value": group_for(role)}],
        }
    else:
        fp = {}
    return _mr(
        m,
        engine,
        engines.get(engine).user_kind,
        user,
        fp,
        provider_config,
        writeConnectionSecretToRef=m.secret_ref(connection_secret),
    )


MYSQL_PRIVILEGES = {"readWrite": ["ALL"], "readOnly": ["SELECT", "SHOW VIEW"]}


def compose_grant(
    m: Mode, engine: str, provider_config: str, user: str, role: str, db: str
) -> dict:
    fp: dict[str, object]
    if engines.get(engine).group_roles:
        fp = {"role": user, "memberOf": group_for(role)}
    else:
        fp = {"user": user, "database": db, "privileges": MYSQL_PRIVILEGES[role]}
    return _mr(m, engine, "Grant", None, fp, provider_config)
