"""Database parameters developers may set (`spec.config.parameters`), and the rds ParameterGroup.

The catalog says, per engine and major version, which parameters are offered, their type, range,
unit and whether a change needs a reboot. Developers write friendly values ("64MB", "30s", 200,
true); `validate` checks every one at once and converts them to what an RDS parameter group takes:
plain numbers in the parameter's base unit (PostgreSQL's pg_settings units kB, 8kB, ms, s, min;
MySQL's bytes and seconds), booleans as "1"/"0", lists comma-separated.

The built-in catalog is checked against real servers' pg_settings / SHOW VARIABLES in
tests/test_parameters_sql.py; the platform extends or replaces it through the Input
(`ParameterCatalog`, merged by `merge`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from function import engines, naming, resources
from function.conditions import Cause, Reason
from function.mode import Mode

FIELD = "spec.config.parameters"

# The parameters that make the server refuse plaintext connections (engines.Engine.tls_parameter):
# always set by compose_parameter_group (unless the platform allows plaintext), never by developers.
TLS_PARAMETERS = frozenset(e.tls_parameter for e in engines.ENGINES.values())

APPLY_IMMEDIATE = "immediate"
APPLY_PENDING_REBOOT = "pending-reboot"

# Multiples of the units PostgreSQL accepts (and RDS documents) in memory and time settings.
_MEMORY: dict[str, Decimal | int] = {
    "B": 1,
    "kB": 1024,
    "MB": 1024**2,
    "GB": 1024**3,
    "TB": 1024**4,
}
_TIME: dict[str, Decimal | int] = {
    "us": Decimal("0.001"),
    "ms": 1,
    "s": 1000,
    "min": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
}
# Base units a catalog entry may name, as a multiple of the smallest unit of its kind.
BASE_UNITS = {"B": 1, "kB": 1024, "8kB": 8192, "MB": 1024**2, "ms": 1, "s": 1000, "min": 60_000}
_VALUE = re.compile(r"^\s*(-?[0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ParameterSpec(_Strict):
    """One parameter developers may set."""

    type: Literal["integer", "real", "bool", "enum", "list", "string"]
    unit: Literal["B", "kB", "8kB", "MB", "ms", "s", "min"] | None = Field(
        None, description="Base unit of the value RDS takes (integer/real only)."
    )
    min: float | None = Field(None, description="Smallest value, in the base unit.")
    max: float | None = Field(None, description="Largest value, in the base unit.")
    values: list[str] = Field(
        default_factory=list, description="Allowed values (enum) or items (list)."
    )
    pattern: str | None = Field(None, description="Regular expression a string must match.")
    reboot: bool = Field(
        False, description="A change needs a reboot (static parameter: pending-reboot)."
    )
    majors: list[str] = Field(
        default_factory=list, description="Majors that have it; empty: every major."
    )

    @model_validator(mode="after")
    def _consistent(self) -> ParameterSpec:
        if self.type in ("enum", "list") and not self.values:
            raise ValueError(f"a {self.type} parameter needs values")
        if self.type == "string" and not self.pattern:
            raise ValueError("a string parameter needs a pattern")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as err:
                raise ValueError(f"pattern is not a regular expression: {err}") from None
        if self.unit and self.type not in ("integer", "real"):
            raise ValueError("only integer and real parameters have a unit")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must not exceed max")
        return self


class ParameterCatalog(_Strict):
    mode: Literal["extend", "replace"] = Field(
        "extend",
        description="extend: merge over the built-in parameters; replace: use only these.",
    )
    postgresql: dict[str, ParameterSpec] = Field(default_factory=dict)
    mysql: dict[str, ParameterSpec] = Field(default_factory=dict)
    mariadb: dict[str, ParameterSpec] = Field(default_factory=dict)


def _int(unit: str | None, lo: float, hi: float, reboot: bool = False, **kw) -> dict:
    return {"type": "integer", "unit": unit, "min": lo, "max": hi, "reboot": reboot, **kw}


_BOOL = {"type": "bool"}
_GB = 1024**2  # in kB
_DAY_MS = 86_400_000

_PG_PRELOAD = [
    "auto_explain",
    "pg_cron",
    "pg_hint_plan",
    "pg_prewarm",
    "pg_stat_statements",
    "pgaudit",
]

# Ranges lie inside the servers' own bounds (checked against pg_settings) and are narrowed to what
# a shared platform should let a developer do: no 0 = unlimited where it would hide mistakes.
_POSTGRESQL: dict[str, dict] = {
    "max_connections": _int(None, 10, 10000, reboot=True),
    "work_mem": _int("kB", 64, 2 * _GB),
    "maintenance_work_mem": _int("kB", 1024, 4 * _GB),
    "effective_cache_size": _int("8kB", 1, 1024 * _GB // 8),
    "statement_timeout": _int("ms", 0, _DAY_MS),
    "lock_timeout": _int("ms", 0, _DAY_MS),
    "idle_in_transaction_session_timeout": _int("ms", 0, _DAY_MS),
    "log_min_duration_statement": _int("ms", -1, _DAY_MS),
    "default_statistics_target": _int(None, 1, 10000),
    "random_page_cost": {"type": "real", "min": 0.1, "max": 100},
    "log_statement": {"type": "enum", "values": ["none", "ddl", "mod", "all"]},
    "log_lock_waits": _BOOL,
    "track_io_timing": _BOOL,
    "timezone": {"type": "string", "pattern": r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$"},
    "shared_preload_libraries": {"type": "list", "values": _PG_PRELOAD, "reboot": True},
}

_SQL_MODES = [
    "ALLOW_INVALID_DATES",
    "ANSI_QUOTES",
    "ERROR_FOR_DIVISION_BY_ZERO",
    "HIGH_NOT_PRECEDENCE",
    "IGNORE_SPACE",
    "NO_AUTO_VALUE_ON_ZERO",
    "NO_BACKSLASH_ESCAPES",
    "NO_DIR_IN_CREATE",
    "NO_ENGINE_SUBSTITUTION",
    "NO_UNSIGNED_SUBTRACTION",
    "NO_ZERO_DATE",
    "NO_ZERO_IN_DATE",
    "ONLY_FULL_GROUP_BY",
    "PIPES_AS_CONCAT",
    "REAL_AS_FLOAT",
    "STRICT_ALL_TABLES",
    "STRICT_TRANS_TABLES",
]
_WEEK_S = 7 * 86_400


def _mysql_like(extra_modes: list[str]) -> dict[str, dict]:
    return {
        "max_connections": _int(None, 10, 16000),
        "max_allowed_packet": _int("B", 1024**2, 1024**3),
        "wait_timeout": _int("s", 60, _WEEK_S),
        "interactive_timeout": _int("s", 60, _WEEK_S),
        "innodb_lock_wait_timeout": _int("s", 1, 3600),
        "long_query_time": {"type": "real", "unit": "s", "min": 0, "max": 3600},
        "slow_query_log": _BOOL,
        "log_queries_not_using_indexes": _BOOL,
        "innodb_print_all_deadlocks": _BOOL,
        "sql_mode": {"type": "list", "values": sorted(_SQL_MODES + extra_modes)},
    }


DEFAULT_PARAMETERS: dict[str, dict[str, dict]] = {
    "postgresql": _POSTGRESQL,
    "mysql": _mysql_like(["TIME_TRUNCATE_FRACTIONAL"]),
    "mariadb": _mysql_like(
        ["EMPTY_STRING_IS_NULL", "SIMULTANEOUS_ASSIGNMENT", "TIME_ROUND_FRACTIONAL"]
    ),
}

Catalog = dict[str, dict[str, ParameterSpec]]


def merge(given: ParameterCatalog | None = None) -> Catalog:
    """The built-in catalog with the platform's entries over it (or only those: mode replace)."""
    given = given or ParameterCatalog()
    out: Catalog = {}
    for engine in engines.ENGINES:
        base = {} if given.mode == "replace" else DEFAULT_PARAMETERS[engine]
        entries = {n: ParameterSpec.model_validate(p) for n, p in base.items()}
        entries.update(getattr(given, engine))
        out[engine] = entries
    return out


DEFAULT_CATALOG: Catalog = merge()


def offered(engine: str, major: str, cat: Catalog | None = None) -> Mapping[str, ParameterSpec]:
    """The parameters offered for one engine and major version, by name (read-only)."""
    cat = cat if cat is not None else DEFAULT_CATALOG
    # Asked several times per request of the same catalog, which lives as long as its Input's
    # parse (inputs.parse); the memo holds the catalog itself, so its id cannot be reused.
    key = (id(cat), engine, major)
    got = _offered.get(key)
    if got is None or got[0] is not cat:
        entries = cat.get(engine, {})
        found = {n: p for n, p in entries.items() if not p.majors or major in p.majors}
        if len(_offered) >= 256:
            _offered.clear()
        got = _offered[key] = (cat, MappingProxyType(found))
    return got[1]


_offered: dict[tuple[int, str, str], tuple[Catalog, Mapping[str, ParameterSpec]]] = {}


def group_name(identifier: str, engine: str, version: str) -> str:
    """One group per instance and family: a major upgrade moves to a new group, and the old one
    can be removed once the instance has left it. Letters, digits and single hyphens (RDS)."""
    return f"{identifier}-{engines.get(engine).family(version).replace('.', '-')}"


def _plain(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def show(spec: ParameterSpec, value: float) -> str:
    """A base-unit value the way a developer writes it: the largest unit that divides it."""
    if spec.unit is None or value in (0, -1):
        return _plain(Decimal(str(value)))
    scale = BASE_UNITS[spec.unit]
    units = _MEMORY if spec.unit in ("B", "kB", "8kB", "MB") else _TIME
    amount = Decimal(str(value)) * scale
    for name, size in sorted(units.items(), key=lambda u: u[1], reverse=True):
        if size >= 1 and amount % Decimal(size) == 0:
            return f"{_plain(amount / Decimal(size))}{name}"
    return f"{_plain(Decimal(str(value)))}{spec.unit}"


def allowed(spec: ParameterSpec) -> str:
    """What a parameter accepts, for messages."""
    if spec.type == "bool":
        return "true or false"
    if spec.type == "enum":
        return "one of " + ", ".join(spec.values)
    if spec.type == "list":
        return "a list of " + ", ".join(spec.values)
    if spec.type == "string":
        return f"a string matching {spec.pattern}"
    lo = show(spec, spec.min) if spec.min is not None else ""
    hi = show(spec, spec.max) if spec.max is not None else ""
    unit = f" (plain numbers in {spec.unit})" if spec.unit else ""
    return f"{lo}..{hi}{unit}"


class _InvalidError(ValueError):
    """A value that cannot be used; the text says why (the message adds what is allowed)."""


def _number(spec: ParameterSpec, value: object) -> Decimal:
    if isinstance(value, bool):
        raise _InvalidError("is not a number")
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise _InvalidError("is not a number")
        return Decimal(str(value))
    if not isinstance(value, str):
        raise _InvalidError("is not a number")
    m = _VALUE.match(value)
    if not m:
        raise _InvalidError("is not a number with an optional unit")
    try:
        amount = Decimal(m.group(1))
    except InvalidOperation:
        raise _InvalidError("is not a number") from None
    unit = m.group(2)
    if not unit:
        return amount
    if spec.unit is None:
        raise _InvalidError("has a unit; this parameter takes a plain number")
    units = _MEMORY if spec.unit in ("B", "kB", "8kB", "MB") else _TIME
    if unit not in units:
        raise _InvalidError(f'has unit "{unit}"; units: {", ".join(units)}')
    return amount * Decimal(units[unit]) / Decimal(BASE_UNITS[spec.unit])


def normalize(spec: ParameterSpec, value: object) -> str:
    """The RDS parameter value for a developer's value; raises _InvalidError."""
    if spec.type in ("integer", "real"):
        number = _number(spec, value)
        if spec.type == "integer" and number != number.to_integral_value():
            raise _InvalidError(
                f"is not a whole number of {spec.unit}" if spec.unit else "is not a whole number"
            )
        if spec.min is not None and number < Decimal(str(spec.min)):
            raise _InvalidError("is below the minimum")
        if spec.max is not None and number > Decimal(str(spec.max)):
            raise _InvalidError("is above the maximum")
        return _plain(number)
    if spec.type == "bool":
        if isinstance(value, bool):
            return "1" if value else "0"
        text = str(value).strip().lower() if isinstance(value, str | int | float) else ""
        if text in ("1", "on", "true", "yes"):
            return "1"
        if text in ("0", "off", "false", "no"):
            return "0"
        raise _InvalidError("is not a boolean")
    if spec.type == "enum":
        if not isinstance(value, str):
            raise _InvalidError("is not a string")
        for choice in spec.values:
            if choice.lower() == value.strip().lower():
                return choice
        raise _InvalidError("is not an allowed value")
    if spec.type == "list":
        if isinstance(value, str):
            items = [i.strip() for i in value.split(",") if i.strip()]
        elif isinstance(value, list) and all(isinstance(i, str) for i in value):
            items = [i.strip() for i in value]
        else:
            raise _InvalidError("is not a list of strings")
        canonical = {v.lower(): v for v in spec.values}
        if not items:
            raise _InvalidError("is empty; leave the parameter out for the default")
        unknown = [i for i in items if i.lower() not in canonical]
        if unknown:
            raise _InvalidError(f"has {', '.join(unknown)}, not allowed")
        # Sorted and without repeats: the same set is always the same group parameter value.
        return ",".join(sorted({canonical[i.lower()] for i in items}))
    if not isinstance(value, str) or not re.fullmatch(spec.pattern or "", value):
        raise _InvalidError("does not match the pattern")
    return value


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # protobuf Structs carry every number as a double
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    return str(value)


def validate(
    engine: str, major: str, params: dict, cat: Catalog | None = None
) -> tuple[dict[str, str], list[Cause]]:
    """Normalized RDS values of the developer's parameters, and every problem at once as
    (field path, reason, message). Parameters with a problem are left out of the result."""
    entries = offered(engine, major, cat)
    normalized: dict[str, str] = {}
    problems: list[Cause] = []
    for name in sorted(params):
        value = params[name]
        field = f"{FIELD}.{name}"
        head = f"{field} {_shown(value)}"
        if name in TLS_PARAMETERS:
            problems.append(
                (
                    field,
                    Reason.PARAMETER_RESERVED,
                    f"{field} is set by the platform (connections must use TLS); "
                    f"allowed: leave it out",
                )
            )
            continue
        spec = entries.get(name)
        if spec is None:
            names = ", ".join(sorted(entries)) or "none"
            problems.append(
                (
                    field,
                    Reason.PARAMETER_NOT_ALLOWED,
                    f"{field} is not offered for {engine} {major}; allowed: {names}",
                )
            )
            continue
        try:
            normalized[name] = normalize(spec, value)
        except _InvalidError as err:
            problems.append(
                (field, Reason.PARAMETER_VALUE_INVALID, f"{head} {err}; allowed: {allowed(spec)}")
            )
    return normalized, problems


def apply_method(spec: ParameterSpec | None) -> str:
    return APPLY_PENDING_REBOOT if spec is None or spec.reboot else APPLY_IMMEDIATE


def needs_reboot(
    engine: str,
    major: str,
    old: dict[str, str],
    new: dict[str, str],
    cat: Catalog | None = None,
) -> list[str]:
    """Names of the static parameters whose value changes (added, changed or removed) between two
    normalized sets: RDS applies them only at the next reboot. Empty: nothing waits for a reboot."""
    entries = offered(engine, major, cat)
    changed = {n for n in old.keys() | new.keys() if old.get(n) != new.get(n)}
    return sorted(n for n in changed if apply_method(entries.get(n)) == APPLY_PENDING_REBOOT)


def group_parameters(
    engine: str,
    major: str,
    normalized: dict[str, str],
    *,
    allow_plaintext: bool = False,
    cat: Catalog | None = None,
) -> list[dict]:
    """The ParameterGroup's `parameter` entries, sorted by name, with the TLS parameter added."""
    entries = offered(engine, major, cat)
    out = [
        {"name": n, "value": v, "applyMethod": apply_method(entries.get(n))}
        for n, v in normalized.items()
        if n not in TLS_PARAMETERS
    ]
    if not allow_plaintext:
        # Dynamic on RDS for every engine: enforced without a reboot.
        out.append(
            {
                "name": engines.get(engine).tls_parameter,
                "value": "1",
                "applyMethod": APPLY_IMMEDIATE,
            }
        )
    return sorted(out, key=lambda p: p["name"])


def compose_parameter_group(
    engine: str,
    version: str,
    normalized: dict[str, str],
    *,
    name: str,
    region: str,
    namespaced: bool,
    provider_config: dict,
    tags: dict[str, str],
    allow_plaintext: bool = False,
    cat: Catalog | None = None,
) -> dict:
    """The rds ParameterGroup managed resource of the instance's family.

    `provider_config` is the providerConfigRef (Mode.aws_provider_config_ref). LateInitialize is
    left out: the function owns the whole parameter list, and the provider copying parameters set
    elsewhere into the spec would keep them forever.
    """
    grp = engines.get(engine).family(version)
    fp: dict = {
        "region": region,
        "family": grp,
        "description": f"function-rds {grp} parameters of {name}",
        "parameter": group_parameters(
            engine,
            engines.get(engine).major(version),
            normalized,
            allow_plaintext=allow_plaintext,
            cat=cat,
        ),
        "tags": tags,
    }
    return {
        "apiVersion": Mode(namespaced, "", "", "").api("rds", "v1beta1"),
        "kind": "ParameterGroup",
        # The group's name is its external name (upjet: NameAsIdentifier).
        "metadata": {"annotations": {naming.EXTERNAL_NAME: name}},
        "spec": {
            "forProvider": fp,
            "managementPolicies": list(resources.MANAGEMENT_POLICIES),
            "providerConfigRef": provider_config,
        },
    }


def readme_table(cat: Catalog | None = None) -> str:
    """The built-in catalog as the README's Markdown table (a test keeps the README in step)."""
    cat = cat if cat is not None else DEFAULT_CATALOG
    rows: dict[tuple[str, str, str], list[str]] = {}
    for engine, entries in cat.items():
        for name, spec in entries.items():
            reboot = "reboot" if spec.reboot else "immediate"
            what = f"a string matching `{spec.pattern}`" if spec.type == "string" else allowed(spec)
            rows.setdefault((name, what, reboot), []).append(engine)
    lines = ["| Parameter | Engines | Allowed | Applied |", "|---|---|---|---|"]
    for (name, what, reboot), names in sorted(rows.items()):
        shown = what.replace("|", "\\|")
        lines.append(f"| `{name}` | {', '.join(names)} | {shown} | {reboot} |")
    return "\n".join(lines)
