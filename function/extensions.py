"""PostgreSQL extensions developers may ask for (`spec.config.extensions`), and provider-sql's
Extension resources that create them in the instance's database.

Each allow-listed extension names the majors RDS offers it on and what it needs: a library in
`shared_preload_libraries` (checked against the developer's normalized parameters, up front) and
parameters the platform sets for it. tests/test_parameters_sql.py creates every one the local
servers ship through provider-sql's SQL and uses it from a binding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from function import naming, parameters
from function.conditions import Cause, Reason
from function.mode import Mode

FIELD = "spec.config.extensions"
# Label on every composed Extension: the RDS identifier of the instance it belongs to.
PRELOAD = "shared_preload_libraries"
ALL_MAJORS = ("13", "14", "15", "16", "17")


@dataclass(frozen=True)
class Extension:
    name: str  # as in CREATE EXTENSION
    majors: tuple[str, ...] = ALL_MAJORS
    preload: str | None = None  # library that must be in shared_preload_libraries
    # Parameters it needs beyond the preload; "{database}" stands for the instance's database.
    parameters: dict[str, str] = field(default_factory=dict)
    # PostgreSQL marks it trusted: a non-superuser with CREATE on the database may create it.
    # The others need RDS's rds_superuser (the master has it; a plain server needs a superuser).
    trusted: bool = True


DEFAULT_EXTENSIONS: dict[str, Extension] = {
    e.name: e
    for e in (
        Extension("vector", trusted=False),
        Extension("postgis", trusted=False),
        Extension("pg_trgm"),
        Extension("pgcrypto"),
        Extension("uuid-ossp"),
        Extension("citext"),
        Extension("hstore"),
        Extension("btree_gin"),
        Extension("btree_gist"),
        Extension("unaccent"),
        Extension("tablefunc"),
        Extension("fuzzystrmatch"),
        Extension("ltree"),
        Extension("intarray"),
        Extension("pg_stat_statements", preload="pg_stat_statements", trusted=False),
        # pg_cron schedules jobs in one database only, named by cron.database_name.
        Extension(
            "pg_cron",
            preload="pg_cron",
            parameters={"cron.database_name": "{database}"},
            trusted=False,
        ),
    )
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExtensionEntry(_Strict):
    """One extension the platform offers (in the Input)."""

    majors: list[str] = Field(
        default_factory=lambda: list(ALL_MAJORS), description="PostgreSQL majors that have it."
    )
    preload: str | None = Field(
        None, description="Library that must be in shared_preload_libraries."
    )
    parameters: dict[str, str] = Field(
        default_factory=dict,
        description='Parameters it needs; "{database}" stands for the instance\'s database.',
    )
    trusted: bool = Field(True, description="PostgreSQL lets a non-superuser create it.")


# Checked in a validator: Kubernetes structural schemas have no patternProperties.
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class ExtensionCatalog(_Strict):
    mode: Literal["extend", "replace"] = Field(
        "extend",
        description="extend: merge over the built-in allow list; replace: use only these.",
    )
    extensions: dict[str, ExtensionEntry] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _names(self) -> ExtensionCatalog:
        bad = sorted(n for n in self.extensions if not _NAME.match(n))
        if bad:
            raise ValueError(f"extension names must match {_NAME.pattern}: {', '.join(bad)}")
        return self


def merge(given: ExtensionCatalog | None = None) -> dict[str, Extension]:
    """The built-in allow list with the platform's entries over it (or only those: replace)."""
    given = given or ExtensionCatalog()
    out = {} if given.mode == "replace" else dict(DEFAULT_EXTENSIONS)
    for name, e in given.extensions.items():
        out[name] = Extension(name, tuple(e.majors), e.preload, dict(e.parameters), e.trusted)
    return out


def validate(
    major: str,
    wanted: list[str],
    normalized: dict[str, str],
    allow: dict[str, Extension] | None = None,
) -> list[Cause]:
    """Every problem with the developer's extensions at once, as (field path, reason, message).

    `normalized` are the developer's parameters as parameters.validate returned them.
    """
    allow = DEFAULT_EXTENSIONS if allow is None else allow
    preloaded = set(filter(None, normalized.get(PRELOAD, "").split(",")))
    problems: list[Cause] = []
    seen: set[str] = set()
    for i, name in enumerate(wanted):
        path = f"{FIELD}[{i}]"
        ext = allow.get(name) if isinstance(name, str) else None
        if isinstance(name, str) and name in seen:
            problems.append(
                (path, Reason.EXTENSION_REPEATED, f'{path} "{name}" is listed twice; allowed: once')
            )
            continue
        seen.add(name if isinstance(name, str) else "")
        if ext is None:
            problems.append(
                (
                    path,
                    Reason.EXTENSION_NOT_ALLOWED,
                    f'{path} "{name}" is not offered; allowed: {", ".join(sorted(allow))}',
                )
            )
        elif major not in ext.majors:
            problems.append(
                (
                    path,
                    Reason.EXTENSION_NOT_ON_VERSION,
                    f'{path} "{name}" is not available on PostgreSQL {major}; allowed on: '
                    f"{', '.join(ext.majors)}",
                )
            )
        elif ext.preload and ext.preload not in preloaded:
            libraries = sorted(preloaded | {ext.preload})
            problems.append(
                (
                    path,
                    Reason.EXTENSION_NEEDS_PRELOAD,
                    f'{path} "{name}" needs {parameters.FIELD}.{PRELOAD} to include '
                    f'"{ext.preload}"; allowed: {PRELOAD}: [{", ".join(libraries)}]',
                )
            )
    return problems


def required_parameters(
    wanted: list[str], database: str, allow: dict[str, Extension] | None = None
) -> dict[str, str]:
    """Parameters the platform adds to the group for these extensions (merge into normalized)."""
    allow = DEFAULT_EXTENSIONS if allow is None else allow
    out: dict[str, str] = {}
    for name in wanted:
        ext = allow.get(name)
        for key, value in (ext.parameters if ext else {}).items():
            out[key] = value.replace("{database}", database)
    return out


def resource_name(name: str) -> str:
    """Name of the composed resource inside the composition."""
    return f"sql-extension-{name}"


def compose_extension(
    name: str, *, database: str, provider_config_name: str, namespaced: bool, owner: str
) -> dict:
    """provider-sql's Extension in the instance's database, labelled with the instance's
    identifier (`owner`): function/extension_lifecycle.py finds it by that label once Crossplane
    has stopped listing it.

    Composed to be kept when deleted (like the group roles, it lives in the database and goes with
    it): deleting the instance never runs a DROP that could hang on a database being deleted.
    Removing it from the list first allows the delete (extension_lifecycle), then provider-sql
    runs `DROP EXTENSION IF EXISTS` without CASCADE: PostgreSQL refuses while a column, index or
    function depends on it, and the provider reports that error until nothing does, so removing
    an extension from the list never drops data.
    """
    # Only the API group and the reference depend on the mode; nothing names the owner here.
    m = Mode(namespaced=namespaced, owner_namespace="", owner_name="", secret_namespace="")
    return {
        "apiVersion": m.sql_api(
            "postgresql"
        ),  # extensions are PostgreSQL's (engines.Engine.extensions)
        "kind": "Extension",
        # No external name: the provider identifies an Extension by forProvider.extension.
        "metadata": {"labels": {naming.LABEL_EXTENSIONS_OF: owner}},
        "spec": {
            # No version: the server's default; the provider late-initializes the one installed
            # and never upgrades it (its Update does nothing).
            "forProvider": {"extension": name, "database": database},
            "providerConfigRef": m.sql_provider_config_ref(provider_config_name),
            **m.retain(),
        },
    }
