"""Bad input of every kind, from developers and from the platform, never crashes or misleads.

Tables of whole messages: each row is what a developer (or platform team) wrote and every event
the function answers with. Through the real gRPC server; the CLI in-process with click.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function import conditions as fnconditions
from function import main
from tests.helpers import EXAMPLE_INPUT, ROOT, composite, conditions, desired, request

PG = {"serviceVersion": "17.5", "plan": "single-small"}
PLANS = (
    "cluster-large, cluster-medium, cluster-nano, cluster-small, single-large, single-medium, "
    "single-nano, single-small"
)
TAG_CHARS = "letters, digits, spaces and _ . : / = + - @"
RESERVED = 'is reserved; allowed: keys not starting with "aws:" or "klutch.io/"'
LONG_KEY, LONG_VALUE = "k" * 129, "v" * 257


def _pg(**extra) -> dict:
    return {**PG, **extra}


@dataclass
class Row:
    id: str
    kind: str
    spec: dict
    # Every warning event, in order: (reason, message without the "cannot … <Kind> "orders": ").
    want: list[tuple[str, str]]
    inp: dict | None = None


VERB = {"ServiceBinding": "bind", "Backup": "back up", "Restore": "restore"}

ROWS = [
    # --- 15: a restoreTime that matches the pattern but is no real time -------------------------
    Row(
        "RestoreTimeFebruary30",
        "Restore",
        {"pointInTime": {"instanceRef": "orders", "restoreTime": "2026-02-30T09:30:00Z"}},
        [
            (
                "SpecInvalid",
                'spec.pointInTime.restoreTime: "2026-02-30T09:30:00Z" is not a real time (day is '
                'out of range for month); allowed: an RFC 3339 time such as "2026-11-24T09:30:00Z"',
            )
        ],
    ),
    Row(
        "RestoreTimeHour25",
        "Restore",
        {"pointInTime": {"instanceRef": "orders", "restoreTime": "2026-11-24T25:30:00Z"}},
        [
            (
                "SpecInvalid",
                'spec.pointInTime.restoreTime: "2026-11-24T25:30:00Z" is not a real time (hour '
                'must be in 0..23); allowed: an RFC 3339 time such as "2026-11-24T09:30:00Z"',
            )
        ],
    ),
    Row(
        "RestoreTimeOffset99",
        "Restore",
        {"pointInTime": {"instanceRef": "orders", "restoreTime": "2026-11-24T09:30:00+99:00"}},
        [
            (
                "SpecInvalid",
                'spec.pointInTime.restoreTime: "2026-11-24T09:30:00+99:00" is not a real time '
                '(UTC offset out of range); allowed: an RFC 3339 time such as "2026-11-24T09:30:00Z"',
            )
        ],
    ),
    # --- 16: tags obey AWS; a developer's tag never overrides a platform tag --------------------
    Row(
        "TagsAgainstAws",
        "PostgresqlInstance",
        _pg(
            config={
                "tags": {
                    "aws:team": "x",
                    "AWS:Cost": "y",
                    "a#b": "c",
                    LONG_KEY: "v",
                    "ok": LONG_VALUE,
                    "klutch.io/plan": "gold",
                }
            }
        ),
        [
            ("TagReserved", f'spec.config.tags key "AWS:Cost" {RESERVED}'),
            (
                "SpecInvalid",
                f'spec.config.tags key "a#b" is not an AWS tag key; allowed: 1..128 {TAG_CHARS}',
            ),
            ("TagReserved", f'spec.config.tags key "aws:team" {RESERVED}'),
            (
                "SpecInvalid",
                f'spec.config.tags key "{LONG_KEY}" is not an AWS tag key; allowed: 1..128 {TAG_CHARS}',
            ),
            ("TagReserved", f'spec.config.tags key "klutch.io/plan" {RESERVED}'),
            (
                "SpecInvalid",
                f'spec.config.tags "ok" value "{LONG_VALUE}" is not an AWS tag value; allowed: 0..256 {TAG_CHARS}',
            ),
        ],
    ),
    Row(
        "TagOverridingThePlatformTag",
        "PostgresqlInstance",
        _pg(config={"tags": {"managed-by": "me"}}),
        [
            (
                "TagReserved",
                'spec.config.tags key "managed-by" is set by the platform (input tags) and is '
                "never overridden; allowed: another key",
            )
        ],
    ),
    Row(
        "TooManyTagsWithThePlatformsAndTheFunctions",
        "PostgresqlInstance",
        _pg(config={"tags": {f"t{i}": "v" for i in range(42)}}),
        [
            (
                "SpecInvalid",
                "spec.config.tags has 42 tags; allowed: at most 41 (1 platform tag(s), 5 of the "
                "function and 3 of the AWS provider count against AWS's 50)",
            )
        ],
    ),
    # --- 17: messages keep the case of what the developer must type -----------------------------
    Row(
        "RoleCaseIsKept",
        "ServiceBinding",
        {"instanceRef": "orders", "role": "readonly"},
        [("SpecInvalid", "spec.role: input should be 'readWrite' or 'readOnly' (got 'readonly')")],
    ),
    Row(
        "PatternCaseIsKept",
        "PostgresqlInstance",
        _pg(config={"database": {"name": "1-orders"}}),
        [
            (
                "SpecInvalid",
                "spec.config.database.name: string should match pattern "
                "'^[a-zA-Z][a-zA-Z0-9_]{0,62}$' (got '1-orders')",
            )
        ],
    ),
    # --- 20: unknown fields and wrong types in every kind; all problems at once -----------------
    Row(
        "BindingRoleTypo",
        "ServiceBinding",
        {"instanceRef": "orders", "rol": "readOnly"},
        [("SpecInvalid", "spec.rol: extra inputs are not permitted (got 'readOnly')")],
    ),
    Row(
        "BindingRoleNotAString",
        "ServiceBinding",
        {"instanceRef": "orders", "role": True},
        [("SpecInvalid", "spec.role: input should be 'readWrite' or 'readOnly' (got True)")],
    ),
    Row(
        "BackupPolicyTypo",
        "Backup",
        {"instanceRef": "orders", "deletionpolicy": "Retain"},
        [("SpecInvalid", "spec.deletionpolicy: extra inputs are not permitted (got 'Retain')")],
    ),
    Row(
        "InstanceTopLevelTypo",
        "PostgresqlInstance",
        _pg(bakup={"schedule": "none"}),
        [("SpecInvalid", "spec.bakup: extra inputs are not permitted")],
    ),
    Row(
        "StringsForNumberAndBoolPlusPlanNotOffered",
        "PostgresqlInstance",
        {
            "serviceVersion": "17.5",
            "plan": "gold",
            "config": {"allocatedStorage": "100", "multiAZ": "true"},
        },
        [
            (
                "SpecInvalid",
                "spec.config.allocatedStorage: input should be a valid integer (got '100')",
            ),
            ("SpecInvalid", "spec.config.multiAZ: input should be a valid boolean (got 'true')"),
            ("PlanNotOffered", f'spec.plan "gold" is not offered; allowed: {PLANS}'),
        ],
    ),
    Row(
        "NumberForVersionPlusPublicAccess",
        "PostgresqlInstance",
        {"serviceVersion": 17.5, "plan": "single-small", "config": {"publiclyAccessible": True}},
        [
            ("SpecInvalid", "spec.serviceVersion: input should be a valid string (got 17.5)"),
            (
                "PublicAccessRefused",
                "spec.config.publiclyAccessible true is not allowed on this platform; allowed: "
                "false (reach the database from inside the cluster's network)",
            ),
        ],
    ),
    Row(
        "RestoreSourceTypo",
        "Restore",
        {"backupref": "pre-migration"},
        [
            ("SpecInvalid", "spec.backupref: extra inputs are not permitted (got 'pre-migration')"),
            (
                "RestoreSourceInvalid",
                "exactly one source is needed, got none; allowed: one of spec.backupRef, "
                "spec.backupArn, spec.pointInTime",
            ),
        ],
    ),
    Row(
        "RestoreNestedTypo",
        "Restore",
        {"pointInTime": {"instanceref": "orders", "useLatestRestorableTime": True}},
        [
            ("SpecInvalid", "spec.pointInTime.instanceRef: field required"),
            (
                "SpecInvalid",
                "spec.pointInTime.instanceref: extra inputs are not permitted (got 'orders')",
            ),
        ],
    ),
    Row(
        "RestoreTypeErrorPlusTwoSources",
        "Restore",
        {
            "backupRef": "pre-migration",
            "backupArn": "arn:aws:rds:eu-central-1:123456789012:snapshot:x",
            "serviceInstanceType": "postgresql",
            "plan": "single-small",
            "config": {"allocatedStorage": "100"},
        },
        [
            (
                "SpecInvalid",
                "spec.config.allocatedStorage: input should be a valid integer (got '100')",
            ),
            (
                "RestoreSourceInvalid",
                "exactly one source is needed, got spec.backupRef, spec.backupArn; allowed: one of "
                "spec.backupRef, spec.backupArn, spec.pointInTime",
            ),
        ],
    ),
]


def _run(stub, row_kind: str, spec: dict, inp: dict | None = None) -> fnv1.RunFunctionResponse:
    return stub.RunFunction(request(composite(row_kind, spec), inp=inp), timeout=10)


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_bad_spec_is_every_problem_named_and_nothing_composed(stub, row: Row):
    rsp = _run(stub, row.kind, row.spec, row.inp)
    prefix = f'cannot {VERB.get(row.kind, "compose")} {row.kind} "orders": '
    got = [(r.reason, r.message) for r in rsp.results]
    assert got == [(reason, prefix + m) for reason, m in row.want]
    assert all(r.severity == fnv1.SEVERITY_WARNING for r in rsp.results)
    assert all(reason in fnconditions.REFUSALS for reason, _ in row.want)
    cond = conditions(rsp)["SpecValid"]
    assert cond.status == fnv1.STATUS_CONDITION_FALSE
    assert cond.message == "; ".join(m for _, m in got)
    assert desired(rsp) == {}


def test_unicode_letters_and_aws_punctuation_are_valid_tags(stub):
    tags = {"Équipe 1": "Zürich +@=:/._-", "cost-center": ""}
    rsp = _run(stub, "PostgresqlInstance", _pg(config={"tags": tags}))
    assert conditions(rsp)["SpecValid"].status == fnv1.STATUS_CONDITION_TRUE, rsp.results
    fp = desired(rsp)["instance"]["spec"]["forProvider"]
    assert fp["tags"]["Équipe 1"] == "Zürich +@=:/._-"
    assert fp["tags"]["managed-by"] == "klutch", "the platform's tag stays"


CROSSPLANE_SPEC = {
    "compositionRef": {"name": "xpostgresqlinstances.rds.aws.anynines.com"},
    "compositionSelector": {"matchLabels": {"provider": "aws"}},
    "compositionRevisionRef": {"name": "xpostgresqlinstances-abc"},
    "compositionRevisionSelector": {"matchLabels": {"channel": "stable"}},
    "compositionUpdatePolicy": "Automatic",
    "environmentConfigRefs": [],
    "resourceRefs": [{"apiVersion": "rds.aws.upbound.io/v1beta3", "kind": "Instance", "name": "x"}],
    "publishConnectionDetailsTo": {"name": "x"},
    "writeConnectionSecretToRef": {"name": "x", "namespace": "crossplane-system"},
    # Crossplane v2 puts its fields of a namespaced XR under spec.crossplane.
    "crossplane": {"compositionRef": {"name": "postgresqlinstances.rds.aws.anynines.com"}},
}


@pytest.mark.parametrize(
    "kind,spec",
    [
        ("PostgresqlInstance", PG),
        ("ServiceBinding", {"instanceRef": "orders"}),
        ("Backup", {"instanceRef": "orders"}),
        ("Restore", {"backupRef": "pre-migration"}),
    ],
)
def test_fields_crossplane_adds_to_a_composite_are_allowed(stub, kind, spec):
    rsp = _run(stub, kind, {**spec, **CROSSPLANE_SPEC})
    assert not [r for r in rsp.results if r.reason == "SpecInvalid"], rsp.results
    # Every answer carries SpecValid; a waiting Restore says Unknown (checked once its source is).
    assert conditions(rsp)["SpecValid"].status != fnv1.STATUS_CONDITION_FALSE


# --- 18 (and 16 for the Input): a platform Input no developer could satisfy ---------------------

PLAN = {"instanceClass": "db.t4g.micro", "storageGiB": 20, "maxStorageGiB": 100}
CAT = "cannot use the function input of this Composition step: "


def _input(**changes) -> dict:
    inp = copy.deepcopy(EXAMPLE_INPUT)
    for path, value in changes.items():
        node = inp
        *parents, last = path.split("__")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return inp


INPUT_ROWS = [
    (
        "DuplicateVersion",
        "PostgresqlInstance",
        _input(catalog={"versions": {"postgresql": [{"version": "17.5"}, {"version": "17.5"}]}}),
        'input.catalog.versions: postgresql lists "17.5" twice; allowed: each version once',
    ),
    (
        "PlanNameNoSpecCanUse",
        "PostgresqlInstance",
        _input(catalog={"plans": {"Gold_Plan": PLAN}}),
        'input.catalog.plans: plan name "Gold_Plan" can never be asked for in spec.plan; '
        "allowed: 1..63 lower-case letters, digits and '-', starting with a letter or digit",
    ),
    (
        "ReplaceWithNoPlans",
        "PostgresqlInstance",
        _input(catalog={"mode": "replace", "versions": {"postgresql": [{"version": "17.5"}]}}),
        'input.catalog: mode "replace" with no plans leaves developers nothing to ask for; '
        'allowed: at least one entry in plans, or mode "extend"',
    ),
    (
        "ReplaceWithNoVersions",
        "PostgresqlInstance",
        _input(catalog={"mode": "replace", "plans": {"small": PLAN}}),
        'input.catalog: mode "replace" with no versions leaves developers nothing to ask for; '
        'allowed: at least one entry in versions, or mode "extend"',
    ),
    (
        "ReplaceWithoutThisEngine",
        "MysqlInstance",
        _input(
            catalog={
                "mode": "replace",
                "plans": {"small": PLAN},
                "versions": {"postgresql": [{"version": "17.5"}]},
            }
        ),
        "input.catalog.versions.mysql: no mysql versions are offered, so every MysqlInstance "
        'would be refused; allowed: at least one mysql version, or catalog mode "extend"',
    ),
    (
        "DefaultWindowUnder30Minutes",
        "PostgresqlInstance",
        _input(backup__defaults__window="03:00-03:15"),
        'input.backup.defaults.window: window "03:00-03:15" is shorter than 30 minutes: RDS '
        "refuses it for every instance that keeps the default; allowed: a UTC window of at "
        'least 30 minutes such as "03:00-04:00"',
    ),
    (
        "DefaultHourlyWithoutRole",
        "PostgresqlInstance",
        _input(backup={"defaults": {"schedule": "hourly"}}),
        'input.backup: defaults.schedule "hourly" needs hourly.iamRoleArn (AWS Backup), so '
        "every instance without its own schedule would be refused; allowed: set "
        'hourly.iamRoleArn, or defaults.schedule "daily" or "none"',
    ),
    (
        "PlatformTagsAgainstAws",
        "PostgresqlInstance",
        _input(tags={"aws:owner": "x", "klutch.io/x": "y", "cost center": "a|b"}),
        f'input.tags: key "aws:owner" {RESERVED}; "cost center" value "a|b" is not an AWS tag '
        f'value; allowed: 0..256 {TAG_CHARS}; key "klutch.io/x" {RESERVED}',
    ),
    (
        "TooManyPlatformTags",
        "PostgresqlInstance",
        _input(tags={f"t{i}": "v" for i in range(43)}),
        "input.tags: has 43 tags; allowed: at most 42",
    ),
    (
        "StringsForBoolAndNumberInTheInput",
        "PostgresqlInstance",
        _input(applyImmediately="true", backup__defaults__retentionDays="7"),
        "input.applyImmediately: input should be a valid boolean (got 'true'); "
        "input.backup.defaults.retentionDays: input should be a valid integer (got '7')",
    ),
]


@pytest.mark.parametrize("row", INPUT_ROWS, ids=[r[0] for r in INPUT_ROWS])
def test_unsatisfiable_input_is_refused_naming_the_input_field(stub, row):
    _, kind, inp, message = row
    rsp = _run(
        stub, kind, PG if kind == "PostgresqlInstance" else {**PG, "serviceVersion": "8.4.5"}, inp
    )
    assert [(r.severity, r.message) for r in rsp.results] == [(fnv1.SEVERITY_FATAL, CAT + message)]
    assert desired(rsp) == {}, "a fatal result: Crossplane applies nothing"


# --- 21: the command line never prints a traceback ----------------------------------------------

COMPOSITION = str(ROOT / "compositions/xpostgresqlinstances.yaml")
FUNCTIONS = str(ROOT / "examples/functions.yaml")
CLAIM = str(ROOT / "examples/postgresql/claim.yaml")


def _files(tmp_path: Path) -> dict[str, str]:
    texts = {
        "notyaml.yaml": "kind: [unclosed\n",
        "list.yaml": "- apiVersion: v1\n- kind: x\n",
        "two.yaml": Path(CLAIM).read_text() + "---\n" + Path(CLAIM).read_text(),
        "empty.yaml": "",
        "listinput.yaml": "- a\n- b\n",
    }
    out = {}
    for name, text in texts.items():
        (tmp_path / name).write_text(text)
        out[name] = str(tmp_path / name)
    return out


CLI_ROWS = [
    # (id, args with {file} placeholders, stderr)
    (
        "XrNotYaml",
        ["render", "{notyaml.yaml}", COMPOSITION, FUNCTIONS],
        "crossplane: error: \"{notyaml.yaml}\" is not YAML: expected ',' or ']', but got "
        "'<stream end>' at line 2, column 1",
    ),
    (
        "XrIsAYamlList",
        ["render", "{list.yaml}", COMPOSITION, FUNCTIONS],
        'crossplane: error: "{list.yaml}" holds a YAML list where a Kubernetes object (a mapping '
        "with apiVersion and kind) is expected",
    ),
    (
        "SeveralXrs",
        ["render", "{two.yaml}", COMPOSITION, FUNCTIONS],
        'crossplane: error: "{two.yaml}" holds 2 objects; allowed: exactly one composite resource '
        "or claim",
    ),
    (
        "EmptyInput",
        ["render", CLAIM, COMPOSITION, FUNCTIONS, "--input", "{empty.yaml}"],
        'crossplane: error: --input "{empty.yaml}" holds 0 objects; allowed: exactly one Input',
    ),
    (
        "ListInput",
        ["render", CLAIM, COMPOSITION, FUNCTIONS, "--input", "{listinput.yaml}"],
        'crossplane: error: "{listinput.yaml}" holds a YAML list where a Kubernetes object (a '
        "mapping with apiVersion and kind) is expected",
    ),
    (
        "MissingFile",
        ["render", "{missing}", COMPOSITION, FUNCTIONS],
        'crossplane: error: cannot read "{missing}": No such file or directory',
    ),
    (
        "ServeWithoutTls",
        [],
        "function-rds: error: no TLS settings: set TLS_SERVER_CERTS_DIR (or "
        "--tls-server-certs-dir) to a directory with tls.crt, tls.key, ca.crt as Crossplane "
        "mounts them, or pass --insecure to serve without TLS (local use only)",
    ),
    (
        "ServeWithAnEmptyTlsDirectory",
        ["--tls-server-certs-dir", "{dir}"],
        'function-rds: error: TLS directory "{dir}" has no tls.crt, tls.key, ca.crt; allowed: a '
        "directory with tls.crt, tls.key, ca.crt, or --insecure (local use only)",
    ),
]


@pytest.mark.parametrize("row", CLI_ROWS, ids=[r[0] for r in CLI_ROWS])
def test_command_line_mistakes_are_one_line_without_traceback(tmp_path: Path, row):
    _, args, want = row
    files = {**_files(tmp_path), "missing": str(tmp_path / "missing.yaml"), "dir": str(tmp_path)}

    def fill(text: str) -> str:
        for name, path in files.items():
            text = text.replace("{" + name + "}", path)
        return text

    env = {"TLS_SERVER_CERTS_DIR": None, "INSECURE": None}
    result = CliRunner().invoke(main.cli, [fill(a) for a in args], env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == fill(want) + "\n"
