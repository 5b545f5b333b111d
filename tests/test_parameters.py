"""The parameter catalog, its validator and the rds ParameterGroup; PostgreSQL extensions and
provider-sql's Extension. Checked against real servers in test_parameters_sql.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from function import engines, extensions, openapi, parameters
from function.parameters import ParameterCatalog, ParameterSpec
from tests import aws_parameters, crds

P = "spec.config.parameters"


@pytest.mark.parametrize(
    ("engine", "major", "given", "want"),
    [
        ("postgresql", "17", {"work_mem": "64MB"}, {"work_mem": "65536"}),
        ("postgresql", "17", {"work_mem": 4096}, {"work_mem": "4096"}),
        ("postgresql", "17", {"work_mem": 4096.0}, {"work_mem": "4096"}),  # Struct numbers
        ("postgresql", "17", {"work_mem": "2GB"}, {"work_mem": "2097152"}),
        ("postgresql", "16", {"effective_cache_size": "4GB"}, {"effective_cache_size": "524288"}),
        ("postgresql", "15", {"statement_timeout": "30s"}, {"statement_timeout": "30000"}),
        ("postgresql", "15", {"statement_timeout": "1.5min"}, {"statement_timeout": "90000"}),
        (
            "postgresql",
            "15",
            {"log_min_duration_statement": -1},
            {"log_min_duration_statement": "-1"},
        ),
        ("postgresql", "17", {"max_connections": 200}, {"max_connections": "200"}),
        ("postgresql", "17", {"random_page_cost": 1.1}, {"random_page_cost": "1.1"}),
        ("postgresql", "17", {"random_page_cost": "4"}, {"random_page_cost": "4"}),
        ("postgresql", "17", {"track_io_timing": True}, {"track_io_timing": "1"}),
        ("postgresql", "17", {"log_lock_waits": "off"}, {"log_lock_waits": "0"}),
        ("postgresql", "17", {"log_statement": "DDL"}, {"log_statement": "ddl"}),
        ("postgresql", "17", {"timezone": "Europe/Berlin"}, {"timezone": "Europe/Berlin"}),
        (
            "postgresql",
            "17",
            {"shared_preload_libraries": ["pgaudit", "PG_STAT_STATEMENTS", "pgaudit"]},
            {"shared_preload_libraries": "pg_stat_statements,pgaudit"},
        ),
        (
            "postgresql",
            "17",
            {"shared_preload_libraries": "pg_cron, auto_explain"},
            {"shared_preload_libraries": "auto_explain,pg_cron"},
        ),
        ("mysql", "8.4", {"long_query_time": "500ms"}, {"long_query_time": "0.5"}),
        ("mysql", "8.0", {"long_query_time": 2}, {"long_query_time": "2"}),
        ("mysql", "8.4", {"max_allowed_packet": "64MB"}, {"max_allowed_packet": "67108864"}),
        ("mysql", "8.4", {"wait_timeout": "8h"}, {"wait_timeout": "28800"}),
        ("mysql", "8.4", {"slow_query_log": "ON"}, {"slow_query_log": "1"}),
        (
            "mariadb",
            "10.11",
            {"sql_mode": ["STRICT_TRANS_TABLES", "no_zero_date"]},
            {"sql_mode": "NO_ZERO_DATE,STRICT_TRANS_TABLES"},
        ),
        (
            "mariadb",
            "11.4",
            {"innodb_lock_wait_timeout": "1min"},
            {"innodb_lock_wait_timeout": "60"},
        ),
    ],
)
def test_friendly_values_become_rds_values(engine, major, given, want):
    assert parameters.validate(engine, major, given) == (want, [])


@pytest.mark.parametrize(
    ("engine", "given", "problems"),
    [
        (
            "postgresql",
            {"work_mem": "3GB"},
            [f'{P}.work_mem "3GB" is above the maximum; allowed: 64kB..2GB (plain numbers in kB)'],
        ),
        (
            "postgresql",
            {"work_mem": 32},
            [f"{P}.work_mem 32 is below the minimum; allowed: 64kB..2GB (plain numbers in kB)"],
        ),
        (
            "postgresql",
            {"work_mem": "100 parsecs"},
            [
                f'{P}.work_mem "100 parsecs" has unit "parsecs"; units: B, kB, MB, GB, TB; '
                "allowed: 64kB..2GB (plain numbers in kB)"
            ],
        ),
        (
            "postgresql",
            {"effective_cache_size": "100kB"},
            [
                f'{P}.effective_cache_size "100kB" is not a whole number of 8kB; '
                "allowed: 8kB..1TB (plain numbers in 8kB)"
            ],
        ),
        (
            "postgresql",
            {"statement_timeout": "2d"},
            [
                f'{P}.statement_timeout "2d" is above the maximum; allowed: 0..1d (plain numbers in ms)'
            ],
        ),
        (
            "postgresql",
            {"max_connections": "200MB"},
            [
                f'{P}.max_connections "200MB" has a unit; this parameter takes a plain number; '
                "allowed: 10..10000"
            ],
        ),
        (
            "postgresql",
            {"max_connections": True},
            [f"{P}.max_connections true is not a number; allowed: 10..10000"],
        ),
        (
            "postgresql",
            {"max_connections": 100.5},
            [f"{P}.max_connections 100.5 is not a whole number; allowed: 10..10000"],
        ),
        (
            "postgresql",
            {"log_statement": "everything"},
            [
                f'{P}.log_statement "everything" is not an allowed value; '
                "allowed: one of none, ddl, mod, all"
            ],
        ),
        (
            "postgresql",
            {"track_io_timing": "maybe"},
            [f'{P}.track_io_timing "maybe" is not a boolean; allowed: true or false'],
        ),
        (
            "postgresql",
            {"shared_preload_libraries": ["pg_stat_statements", "timescaledb"]},
            [
                f'{P}.shared_preload_libraries ["pg_stat_statements", "timescaledb"] has '
                "timescaledb, not allowed; allowed: a list of auto_explain, pg_cron, pg_hint_plan, "
                "pg_prewarm, pg_stat_statements, pgaudit"
            ],
        ),
        (
            "postgresql",
            {"shared_preload_libraries": []},
            [
                f"{P}.shared_preload_libraries [] is empty; leave the parameter out for the "
                "default; allowed: a list of auto_explain, pg_cron, pg_hint_plan, pg_prewarm, "
                "pg_stat_statements, pgaudit"
            ],
        ),
        (
            "postgresql",
            {"timezone": "Europe/Berlin; DROP"},
            [
                f'{P}.timezone "Europe/Berlin; DROP" does not match the pattern; allowed: a '
                "string matching ^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$"
            ],
        ),
        (
            "postgresql",
            {"rds.force_ssl": 0},
            [
                f"{P}.rds.force_ssl is set by the platform (connections must use TLS); "
                "allowed: leave it out"
            ],
        ),
        (
            "mysql",
            {"require_secure_transport": "OFF"},
            [
                f"{P}.require_secure_transport is set by the platform (connections must use "
                "TLS); allowed: leave it out"
            ],
        ),
        (
            "mysql",
            {"long_query_time": "2h"},
            [f'{P}.long_query_time "2h" is above the maximum; allowed: 0..1h (plain numbers in s)'],
        ),
        (
            "mariadb",
            {"innodb_buffer_pool_size": "1GB"},
            [
                f"{P}.innodb_buffer_pool_size is not offered for mariadb 10.11; allowed: "
                "innodb_lock_wait_timeout, innodb_print_all_deadlocks, interactive_timeout, "
                "log_queries_not_using_indexes, long_query_time, max_allowed_packet, "
                "max_connections, slow_query_log, sql_mode, wait_timeout"
            ],
        ),
    ],
)
def test_every_problem_names_parameter_value_and_what_is_allowed(engine, given, problems):
    major = {"postgresql": "17", "mysql": "8.4", "mariadb": "10.11"}[engine]
    normalized, got = parameters.validate(engine, major, given)
    assert normalized == {}
    assert [m for _, _, m in got] == problems


def test_all_problems_are_reported_at_once_with_fields_and_reasons():
    normalized, problems = parameters.validate(
        "postgresql",
        "16",
        {"work_mem": "3GB", "nope": 1, "rds.force_ssl": "0", "max_connections": 500},
    )
    assert normalized == {"max_connections": "500"}
    assert [(f, r) for f, r, _ in problems] == [
        (f"{P}.nope", "ParameterNotAllowed"),
        (f"{P}.rds.force_ssl", "ParameterReserved"),
        (f"{P}.work_mem", "ParameterValueInvalid"),
    ]


@pytest.mark.parametrize(
    ("engine", "version", "family", "group"),
    [
        ("postgresql", "17.5", "postgres17", "orders-postgres17"),
        ("postgresql", "13.20", "postgres13", "orders-postgres13"),
        ("mysql", "8.4.5", "mysql8.4", "orders-mysql8-4"),
        ("mysql", "8.0.42", "mysql8.0", "orders-mysql8-0"),
        ("mariadb", "11.4.5", "mariadb11.4", "orders-mariadb11-4"),
        ("mariadb", "10.6.21", "mariadb10.6", "orders-mariadb10-6"),
    ],
)
def test_family_and_group_name(engine, version, family, group):
    assert engines.get(engine).family(version) == family
    assert parameters.group_name("orders", engine, version) == group


def test_static_changes_wait_for_a_reboot():
    old = {"max_connections": "100", "work_mem": "4096"}
    assert parameters.needs_reboot("postgresql", "17", old, old) == []
    assert parameters.needs_reboot("postgresql", "17", old, {**old, "work_mem": "8192"}) == []
    assert parameters.needs_reboot(
        "postgresql",
        "17",
        old,
        {"work_mem": "4096", "shared_preload_libraries": "pg_stat_statements"},
    ) == ["max_connections", "shared_preload_libraries"]
    # MySQL's max_connections is dynamic on RDS.
    assert parameters.needs_reboot("mysql", "8.4", {"max_connections": "1"}, {}) == []


@pytest.mark.parametrize("namespaced", [False, True])
@pytest.mark.parametrize(
    ("engine", "version", "tls"),
    [
        ("postgresql", "17.5", "rds.force_ssl"),
        ("mysql", "8.4.5", "require_secure_transport"),
        ("mariadb", "10.11.10", "require_secure_transport"),
    ],
)
def test_parameter_group_body(namespaced, engine, version, tls):
    major = "17" if engine == "postgresql" else version.rsplit(".", 1)[0]
    given = (
        {"max_connections": 300, "statement_timeout": "30s"}
        if engine == "postgresql"
        else {"max_connections": 300, "long_query_time": "1s"}
    )
    normalized, problems = parameters.validate(engine, major, given)
    assert problems == []
    ref = {"kind": "ClusterProviderConfig", "name": "aws"} if namespaced else {"name": "aws"}
    body = parameters.compose_parameter_group(
        engine,
        version,
        normalized,
        name="orders-x",
        region="eu-central-1",
        namespaced=namespaced,
        provider_config=ref,
        tags={"team": "orders"},
    )
    crds.validate(body)
    reboot = "pending-reboot" if engine == "postgresql" else "immediate"
    second = "statement_timeout" if engine == "postgresql" else "long_query_time"
    assert body == {
        "apiVersion": f"rds.aws.{'m.' if namespaced else ''}upbound.io/v1beta1",
        "kind": "ParameterGroup",
        "metadata": {"annotations": {"crossplane.io/external-name": "orders-x"}},
        "spec": {
            "forProvider": {
                "region": "eu-central-1",
                "family": engines.get(engine).family(version),
                "description": f"function-rds {engines.get(engine).family(version)} "
                "parameters of orders-x",
                "parameter": sorted(
                    [
                        {"name": "max_connections", "value": "300", "applyMethod": reboot},
                        {"name": second, "value": normalized[second], "applyMethod": "immediate"},
                        {"name": tls, "value": "1", "applyMethod": "immediate"},
                    ],
                    key=lambda p: p["name"],
                ),
                "tags": {"team": "orders"},
            },
            "managementPolicies": ["Observe", "Create", "Update", "Delete"],
            "providerConfigRef": ref,
        },
    }


def test_the_platform_may_allow_plaintext():
    body = parameters.compose_parameter_group(
        "postgresql",
        "16.9",
        {},
        name="g",
        region="eu-central-1",
        namespaced=False,
        provider_config={"name": "default"},
        tags={},
        allow_plaintext=True,
    )
    crds.validate(body)
    assert body["spec"]["forProvider"]["parameter"] == []


def test_platform_catalog_extends_or_replaces_the_built_in_one():
    extra = ParameterSpec(type="enum", values=["off", "on"], majors=["17"])
    extended = parameters.merge(ParameterCatalog(postgresql={"jit": extra}))
    assert "work_mem" in parameters.offered("postgresql", "17", extended)
    assert parameters.offered("postgresql", "17", extended)["jit"] == extra
    assert "jit" not in parameters.offered("postgresql", "16", extended)
    replaced = parameters.merge(ParameterCatalog(mode="replace", postgresql={"jit": extra}))
    assert list(parameters.offered("postgresql", "17", replaced)) == ["jit"]
    assert parameters.offered("mysql", "8.4", replaced) == {}
    _, problems = parameters.validate("postgresql", "17", {"work_mem": "4MB"}, replaced)
    assert [m for _, _, m in problems] == [
        f"{P}.work_mem is not offered for postgresql 17; allowed: jit"
    ]


@pytest.mark.parametrize(
    ("entry", "error"),
    [
        ({"type": "enum"}, "a enum parameter needs values"),
        ({"type": "string"}, "a string parameter needs a pattern"),
        ({"type": "bool", "unit": "ms"}, "only integer and real parameters have a unit"),
        ({"type": "integer", "min": 5, "max": 1}, "min must not exceed max"),
        ({"type": "integer", "unit": "parsec"}, "Input should be"),
        ({"type": "string", "pattern": "(["}, "pattern is not a regular expression"),
    ],
)
def test_platform_entries_are_checked(entry, error):
    with pytest.raises(ValidationError, match=error):
        ParameterCatalog.model_validate({"postgresql": {"x": entry}})


def test_built_in_ranges_show_in_friendly_units():
    shown = {n: parameters.allowed(s) for n, s in parameters.offered("postgresql", "17").items()}
    assert shown["maintenance_work_mem"] == "1MB..4GB (plain numbers in kB)"
    assert shown["log_min_duration_statement"] == "-1..1d (plain numbers in ms)"
    assert shown["effective_cache_size"] == "8kB..1TB (plain numbers in 8kB)"


E = "spec.config.extensions"


@pytest.mark.parametrize(
    ("major", "wanted", "params", "problems"),
    [
        ("17", ["vector", "pg_trgm", "uuid-ossp"], {}, []),
        (
            "17",
            ["pg_stat_statements"],
            {"shared_preload_libraries": "pg_stat_statements"},
            [],
        ),
        (
            "17",
            ["timescaledb"],
            {},
            [
                (
                    f"{E}[0]",
                    "ExtensionNotAllowed",
                    f'{E}[0] "timescaledb" is not offered; allowed: btree_gin, btree_gist, '
                    "citext, fuzzystrmatch, hstore, intarray, ltree, pg_cron, "
                    "pg_stat_statements, pg_trgm, pgcrypto, postgis, tablefunc, unaccent, "
                    "uuid-ossp, vector",
                )
            ],
        ),
        (
            "16",
            ["pg_trgm", "pg_cron", "pg_stat_statements"],
            {"shared_preload_libraries": "pgaudit"},
            [
                (
                    f"{E}[1]",
                    "ExtensionNeedsPreload",
                    f'{E}[1] "pg_cron" needs {P}.shared_preload_libraries to include '
                    '"pg_cron"; allowed: shared_preload_libraries: [pg_cron, pgaudit]',
                ),
                (
                    f"{E}[2]",
                    "ExtensionNeedsPreload",
                    f'{E}[2] "pg_stat_statements" needs {P}.shared_preload_libraries to '
                    'include "pg_stat_statements"; allowed: shared_preload_libraries: '
                    "[pg_stat_statements, pgaudit]",
                ),
            ],
        ),
    ],
)
def test_extensions_checked_up_front(major, wanted, params, problems):
    assert extensions.validate(major, wanted, params) == problems


def test_extension_not_on_this_major():
    allow = {"pg_new": extensions.Extension("pg_new", majors=("17",))}
    assert extensions.validate("15", ["pg_new"], {}, allow) == [
        (
            f"{E}[0]",
            "ExtensionNotOnVersion",
            f'{E}[0] "pg_new" is not available on PostgreSQL 15; allowed on: 17',
        )
    ]


def test_pg_cron_runs_in_the_instances_database():
    assert extensions.required_parameters(["pg_trgm", "pg_cron"], "orders") == {
        "cron.database_name": "orders"
    }


@pytest.mark.parametrize("namespaced", [False, True])
def test_extension_body(namespaced):
    body = extensions.compose_extension(
        "vector",
        database="orders",
        provider_config_name="orders-x",
        namespaced=namespaced,
        owner="team-a-orders-6ca319",
    )
    crds.validate(body)
    ref = {"kind": "ProviderConfig", "name": "orders-x"} if namespaced else {"name": "orders-x"}
    assert body == {
        "apiVersion": f"postgresql.sql.{'m.' if namespaced else ''}crossplane.io/v1alpha1",
        "kind": "Extension",
        "metadata": {"labels": {"klutch.io/extensions-of": "team-a-orders-6ca319"}},
        "spec": {
            "forProvider": {"extension": "vector", "database": "orders"},
            "providerConfigRef": ref,
            # Kept when the instance goes; removal from the list allows the DROP first.
            **(
                {"managementPolicies": ["Observe", "Create", "Update", "LateInitialize"]}
                if namespaced
                else {"deletionPolicy": "Orphan"}
            ),
        },
    }


def _group(engine: str, version: str, given: dict, cat=None) -> dict:
    normalized, problems = parameters.validate(
        engine, engines.get(engine).major(version), given, cat
    )
    assert problems == []
    return parameters.compose_parameter_group(
        engine,
        version,
        normalized,
        name=parameters.group_name("orders-x", engine, version),
        region="eu-central-1",
        namespaced=False,
        provider_config={"name": "default"},
        tags={"klutch.io/name": "orders"},
        cat=cat,
    )


GIVEN = {
    "postgresql": {"work_mem": "64MB", "max_connections": 300, "statement_timeout": "30s"},
    "mysql": {"max_connections": 300, "long_query_time": "500ms", "slow_query_log": True},
    "mariadb": {"sql_mode": ["STRICT_TRANS_TABLES"], "wait_timeout": "1h"},
}


@pytest.mark.parametrize(
    ("engine", "version"), [("postgresql", "17.5"), ("mysql", "8.4.5"), ("mariadb", "10.11.10")]
)
def test_parameter_group_is_created_on_moto_and_attached(rds, engine, version):
    body = _group(engine, version, GIVEN[engine])
    calls = aws_parameters.create_calls(body)
    assert [op for op, _ in calls] == ["CreateDBParameterGroup", "ModifyDBParameterGroup"]
    aws_parameters.run(rds, calls)
    name = parameters.group_name("orders-x", engine, version)
    (group,) = rds.describe_db_parameter_groups(DBParameterGroupName=name)["DBParameterGroups"]
    assert group["DBParameterGroupFamily"] == engines.get(engine).family(version)
    have = {
        p["ParameterName"]: (p["ParameterValue"], p["ApplyMethod"])
        for p in rds.describe_db_parameters(DBParameterGroupName=name)["Parameters"]
    }
    want = {
        p["name"]: (p["value"], p["applyMethod"]) for p in body["spec"]["forProvider"]["parameter"]
    }
    assert have == want
    assert have[engines.get(engine).tls_parameter] == ("1", "immediate")
    db = rds.create_db_instance(
        DBInstanceIdentifier="orders-x",
        DBInstanceClass="db.t4g.micro",
        Engine=engines.get(engine).rds,
        EngineVersion=version,
        AllocatedStorage=20,
        MasterUsername="dbadmin",
        MasterUserPassword="x" * 16,
        DBParameterGroupName=name,
    )["DBInstance"]
    assert db["DBParameterGroups"][0]["DBParameterGroupName"] == name


def test_parameter_change_is_a_modify_and_a_reset(rds):
    old = _group("postgresql", "17.5", GIVEN["postgresql"])
    aws_parameters.run(rds, aws_parameters.create_calls(old))
    new = _group("postgresql", "17.5", {"work_mem": "128MB", "max_connections": 300})
    calls = aws_parameters.update_calls(old, new)
    assert calls == [
        (
            "ModifyDBParameterGroup",
            {
                "DBParameterGroupName": "orders-x-postgres17",
                "Parameters": [
                    {
                        "ParameterName": "work_mem",
                        "ParameterValue": "131072",
                        "ApplyMethod": "immediate",
                    }
                ],
            },
        ),
        (
            "ResetDBParameterGroup",
            {
                "DBParameterGroupName": "orders-x-postgres17",
                "Parameters": [
                    {
                        "ParameterName": "statement_timeout",
                        "ParameterValue": "30000",
                        "ApplyMethod": "immediate",
                    }
                ],
            },
        ),
    ]
    aws_parameters.run(rds, calls[:1])  # moto has no ResetDBParameterGroup; botocore checked it
    values = {
        p["ParameterName"]: p["ParameterValue"]
        for p in rds.describe_db_parameters(DBParameterGroupName="orders-x-postgres17")[
            "Parameters"
        ]
    }
    assert values["work_mem"] == "131072"


def test_many_parameters_go_in_calls_of_twenty():
    many = parameters.merge(
        ParameterCatalog(
            mode="replace", mysql={f"p{i:02}": ParameterSpec(type="bool") for i in range(25)}
        )
    )
    body = _group("mysql", "8.0.42", {f"p{i:02}": True for i in range(25)}, many)
    calls = aws_parameters.create_calls(body)
    assert [len(p.get("Parameters", [])) for _, p in calls] == [0, 20, 6]  # 25 + TLS


def test_a_bad_value_type_is_caught_by_botocore():
    body = _group("postgresql", "17.5", {})
    body["spec"]["forProvider"]["parameter"][0]["value"] = 1
    with pytest.raises(AssertionError, match="ParameterValue"):
        aws_parameters.create_calls(body)


def test_platform_extends_or_replaces_the_extension_allow_list():
    given = {"extensions": {"pg_partman": {"majors": ["16", "17"]}}}
    extended = extensions.merge(extensions.ExtensionCatalog.model_validate(given))
    assert extended["pg_partman"] == extensions.Extension("pg_partman", ("16", "17"))
    assert "vector" in extended
    replaced = extensions.merge(
        extensions.ExtensionCatalog.model_validate({"mode": "replace", **given})
    )
    assert extensions.validate("15", ["pg_partman", "vector"], {}, replaced) == [
        (
            f"{E}[0]",
            "ExtensionNotOnVersion",
            f'{E}[0] "pg_partman" is not available on PostgreSQL 15; allowed on: 16, 17',
        ),
        (f"{E}[1]", "ExtensionNotAllowed", f'{E}[1] "vector" is not offered; allowed: pg_partman'),
    ]
    with pytest.raises(ValidationError, match="extension names must match"):
        extensions.ExtensionCatalog.model_validate({"extensions": {'x"; DROP': {}}})


@pytest.mark.parametrize("model", [ParameterCatalog, extensions.ExtensionCatalog])
def test_input_models_make_structural_schemas(model):
    """The lead adds them to the Input; Kubernetes refuses patternProperties and the like."""
    text = json.dumps(openapi.structural(model))
    assert all(word not in text for word in ("patternProperties", "anyOf", "$ref", "null"))


def test_readme_lists_the_built_in_parameters():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert parameters.readme_table() in readme


def test_an_extension_listed_twice():
    assert extensions.validate("17", ["citext", "citext"], {}) == [
        (f"{E}[1]", "ExtensionRepeated", f'{E}[1] "citext" is listed twice; allowed: once')
    ]


_JSON = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)
_NAMES = st.sampled_from(
    [
        *sorted({n for entries in parameters.DEFAULT_CATALOG.values() for n in entries}),
        "rds.force_ssl",
        "require_secure_transport",
        "nope",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    engine=st.sampled_from(["postgresql", "mysql", "mariadb"]),
    params=st.dictionaries(
        _NAMES, _JSON | st.text(alphabet="0123456789.-kMGBmsinhd ", max_size=12)
    ),
    wanted=st.lists(_JSON, max_size=4),
)
def test_any_input_gives_values_or_problems_never_a_crash(engine, params, wanted):
    major = {"postgresql": "17", "mysql": "8.4", "mariadb": "10.11"}[engine]
    normalized, problems = parameters.validate(engine, major, params)
    assert set(normalized) | {f.removeprefix(f"{P}.") for f, _, _ in problems} == set(params)
    assert all(isinstance(v, str) for v in normalized.values())
    extensions.validate(major, wanted, normalized)
    body = parameters.compose_parameter_group(
        engine,
        "17.5" if engine == "postgresql" else f"{major}.1",
        normalized,
        name="g",
        region="eu-central-1",
        namespaced=True,
        provider_config={"kind": "ClusterProviderConfig", "name": "default"},
        tags={},
    )
    crds.validate(body)
