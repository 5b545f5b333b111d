"""Extensions over time: removing one drops it only where nothing depends on it, else the
developer's object says why; putting it back converges; an Extension that exists is never dropped
because the server was briefly not ready.

The first tests answer single requests (Crossplane's view given by hand); the last plays
Crossplane's garbage collection and provider-sql's Extension controller against a real
PostgreSQL 17: provider-sql's SQL through tests/sqlprovider.py, its error text as lib/pq v1.12
(its go.mod) prints it, wrapped the way crossplane-runtime's managed reconciler does.
"""

from __future__ import annotations

import copy
import itertools
import shutil

import psycopg
import pytest
from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function import extension_lifecycle as lifecycle
from function.conditions import Reason, Type
from tests import crds
from tests.helpers import call, composite, conditions, desired, request
from tests.sqlprovider import PostgresProvider
from tests.sqlservers import DB_NAME, postgresql
from tests.test_instance_parameters import settled

PG = {"serviceVersion": "17.5", "plan": "single-small"}
UID = "5f1e0c1a-0000-4000-8000-000000000001"  # tests.helpers.composite's
IDENTIFIER = "team-a-orders-6ca319"
WHO = 'PostgresqlInstance "orders"'
BLOCKED = (
    "delete failed: cannot drop extension: pq: cannot drop extension citext because other "
    "objects depend on it (2BP01)"
)


def spec_with(*names: str) -> dict:
    return {**PG, "config": {"extensions": list(names)}}


def extension_mr(
    name: str,
    extension: str,
    *,
    deleting: bool = False,
    error: str = "",
    ready: bool = True,
    owner_uid: str = UID,
    **spec: object,
) -> dict:
    """An Extension as the API server holds it (what the requirement returns)."""
    meta: dict = {
        "name": name,
        "labels": {lifecycle.LABEL: IDENTIFIER},
        "ownerReferences": [{"kind": "XPostgresqlInstance", "uid": owner_uid, "controller": True}],
    }
    if deleting:
        meta["deletionTimestamp"] = "2026-11-27T03:00:00Z"
    synced = {"type": "Synced", "status": "True", "reason": "ReconcileSuccess"}
    if error:
        synced = {"type": "Synced", "status": "False", "reason": "ReconcileError", "message": error}
    return {
        "apiVersion": "postgresql.sql.crossplane.io/v1alpha1",
        "kind": "Extension",
        "metadata": meta,
        "spec": {
            "forProvider": {"extension": extension, "database": "app", "version": "1.6"},
            "providerConfigRef": {"name": IDENTIFIER},
            **spec,
        },
        "status": {
            "conditions": [
                {"type": "Ready", "status": "True" if ready else "False", "reason": "Available"},
                synced,
            ]
        },
    }


@pytest.fixture(scope="module")
def base(stub) -> dict:
    """A settled PostgreSQL instance without extensions, as Crossplane observes it."""
    return settled(stub, PG)


def answer(stub, spec, base, composed=(), required=(), connection=None):
    observed = {**base, **{lifecycle.KEY_PREFIX + b["spec"]["forProvider"]["extension"]: b
                           for b in composed}}  # fmt: skip
    return stub.RunFunction(
        request(
            composite("PostgresqlInstance", spec),
            observed,
            required={lifecycle.REQUIREMENT: list(required)},
            connection=connection,
        )
    )


def extension_keys(rsp) -> list[str]:
    prefixes = (lifecycle.KEY_PREFIX, lifecycle.RELEASE_PREFIX)
    return sorted(k for k in desired(rsp) if k.startswith(prefixes))


def ext_condition(rsp) -> tuple[str, str, str]:
    c = conditions(rsp)[Type.EXTENSIONS_READY]
    return fnv1.Status.Name(c.status).removeprefix("STATUS_CONDITION_"), c.reason, c.message


def test_the_function_requires_its_extensions_by_label(stub, base):
    rsp = answer(stub, spec_with("citext"), base)
    sel = rsp.requirements.resources[lifecycle.REQUIREMENT]
    assert (sel.api_version, sel.kind, dict(sel.match_labels.labels)) == (
        "postgresql.sql.crossplane.io/v1alpha1",
        "Extension",
        {"klutch.io/extensions-of": IDENTIFIER},
    )
    assert desired(rsp)["sql-extension-citext"]["metadata"]["labels"] == {
        "klutch.io/extensions-of": IDENTIFIER
    }


def test_an_existing_extension_is_kept_while_the_primary_is_not_ready(stub, base):
    # Leaving it out would make Crossplane delete it, and provider-sql drop it.
    down = copy.deepcopy(base)
    down["instance"]["status"]["conditions"][0]["status"] = "False"
    citext = extension_mr("orders-1", "citext")
    rsp = answer(stub, spec_with("citext", "hstore"), down, composed=[citext])
    assert extension_keys(rsp) == ["sql-extension-citext"]  # hstore waits for the server
    assert ext_condition(rsp) == (
        "FALSE",
        "ExtensionsPending",
        "waiting for provider-sql in database app: creating hstore",
    )


CASES = [
    # (what is listed, composed (observed), required, desired extension keys, condition, warnings)
    pytest.param(
        ["citext"], [extension_mr("orders-1", "citext")], [],
        ["sql-extension-citext"],
        ("TRUE", "ExtensionsAsListed", "in database app: citext"), [],
        id="created",
    ),
    pytest.param(
        [], [], [], [],
        ("TRUE", "ExtensionsAsListed", "none listed, none left"), [],
        id="none",
    ),
    pytest.param(
        [], [extension_mr("orders-1", "citext")], [], [],
        ("FALSE", "ExtensionsPending", "waiting for provider-sql in database app: dropping citext"),
        [],
        id="just-removed",
    ),
    pytest.param(
        [], [extension_mr("orders-1", "citext", deletionPolicy="Orphan")], [],
        ["sql-extension-citext"],  # composed once more, allowing its delete (a DROP)
        ("FALSE", "ExtensionsPending", "waiting for provider-sql in database app: dropping citext"),
        [],
        id="removed-first-allowed-to-drop",
    ),
    pytest.param(
        [], [], [extension_mr("orders-1", "citext", deleting=True)], [],
        ("FALSE", "ExtensionsPending", "waiting for provider-sql in database app: dropping citext"),
        [],
        id="dropping",
    ),
    pytest.param(
        ["hstore"], [extension_mr("orders-2", "hstore")],
        [extension_mr("orders-1", "citext", deleting=True, error=BLOCKED),
         extension_mr("orders-2", "hstore")],
        ["sql-extension-hstore"],
        ("FALSE", "ExtensionDropBlocked",
         f'"citext" stays in database "app": provider-sql cannot drop it ({BLOCKED})'),
        [f'{WHO}: extension "citext" stays in database "app": provider-sql cannot drop it '
         f"({BLOCKED}); drop what uses it (provider-sql then drops it), or put \"citext\" back "
         "into spec.config.extensions to keep it"],
        id="blocked",
    ),
    pytest.param(
        [], [], [extension_mr("theirs", "citext", deleting=True, error=BLOCKED, owner_uid="x")],
        [],
        ("TRUE", "ExtensionsAsListed", "none listed, none left"), [],
        id="labelled-by-someone-else",
    ),
    pytest.param(
        ["citext"], [extension_mr("orders-3", "citext", ready=False, error="connect failed: "
                                  "cannot connect: password s3cr3t-Pw0rd rejected")], [],
        ["sql-extension-citext"],
        ("FALSE", "ExtensionsPending", "waiting for provider-sql in database app: creating citext "
         "(connect failed: cannot connect: password (redacted) rejected)"), [],
        id="create-failing-without-secrets",
    ),
]  # fmt: skip


@pytest.mark.parametrize("listed,composed,required,keys,condition,warnings", CASES)
def test_what_the_developer_is_told(stub, base, listed, composed, required, keys, condition,
                                    warnings):  # fmt: skip
    rsp = answer(
        stub,
        spec_with(*listed),
        base,
        composed,
        required,
        connection={"instance": {"password": "s3cr3t-Pw0rd", "username": "dbadmin"}},
    )
    assert extension_keys(rsp) == keys
    assert ext_condition(rsp) == condition
    assert [r.message for r in rsp.results if r.reason == Reason.EXTENSION_DROP_BLOCKED] == warnings


@pytest.mark.parametrize("namespaced", [False, True])
def test_putting_it_back_releases_the_old_extension_without_a_drop(stub, namespaced):
    if namespaced:
        xr = {
            "apiVersion": "rds.aws.anynines.com/v1",
            "kind": "PostgresqlInstance",
            "metadata": {"name": "orders", "namespace": "team-a", "uid": UID},
            "spec": spec_with("citext"),
        }
        old = extension_mr("orders-1", "citext", deleting=True, error=BLOCKED)
        old["apiVersion"] = "postgresql.sql.m.crossplane.io/v1alpha1"
        old["metadata"]["namespace"] = "team-a"
        old["spec"]["providerConfigRef"] = {"kind": "ProviderConfig", "name": "x"}
    else:
        xr = composite("PostgresqlInstance", spec_with("citext"))
        old = extension_mr("orders-1", "citext", deleting=True, error=BLOCKED)
    observed = {
        n: b for n, b in settled_for(stub, xr).items() if not n.startswith(lifecycle.KEY_PREFIX)
    }
    rsp = stub.RunFunction(request(xr, observed, required={lifecycle.REQUIREMENT: [old]}))
    got = desired(rsp)
    assert extension_keys(rsp) == ["sql-extension-citext", "sql-released-extension-orders-1"]
    release = got["sql-released-extension-orders-1"]
    retain = (
        {"managementPolicies": ["Observe", "Create", "Update", "LateInitialize"]}
        if namespaced
        else {"deletionPolicy": "Orphan"}
    )
    expected_meta = {"name": "orders-1", "labels": {lifecycle.LABEL: IDENTIFIER}}
    if namespaced:
        expected_meta["namespace"] = "team-a"
    assert release == {
        "apiVersion": old["apiVersion"],
        "kind": "Extension",
        "metadata": expected_meta,
        "spec": {**old["spec"], **retain},
    }
    new = got["sql-extension-citext"]
    assert "name" not in new["metadata"]  # a new Extension: Crossplane names it
    assert {k: v for k, v in new["spec"].items() if k in retain} == retain
    for body in (release, got["sql-extension-citext"]):
        crds.validate(body)
    # Not blocked any more: the developer wants it, it stays.
    assert not [r for r in rsp.results if r.reason == Reason.EXTENSION_DROP_BLOCKED]


def settled_for(stub, xr: dict) -> dict:
    observed: dict = {}
    for _ in range(2):
        made = desired(stub.RunFunction(request(xr, observed)))
        observed = {}
        for n, b in made.items():
            seen = copy.deepcopy(b)
            seen.setdefault("metadata", {}).setdefault("name", f"orders-{n}")
            seen["status"] = {
                "atProvider": {"status": "available"} if n == "instance" else {},
                "conditions": [{"type": "Ready", "status": "True", "reason": "Available"}],
            }
            observed[n] = seen
    return observed


def test_a_refused_edit_still_reports_a_blocked_drop(stub, base):
    bad = {**spec_with("citext"), "plan": "no-such-plan"}
    rsp = answer(
        stub,
        bad,
        base,
        composed=[extension_mr("orders-2", "citext")],
        required=[extension_mr("orders-1", "hstore", deleting=True, error="boom")],
    )
    assert conditions(rsp)["SpecValid"].reason == "PlanNotOffered"
    assert ext_condition(rsp) == (
        "FALSE",
        "ExtensionDropBlocked",
        '"hstore" stays in database "app": provider-sql cannot drop it (boom)',
    )


# --- against a real PostgreSQL ---------------------------------------------------------------


COMPOSITE_LABEL = "crossplane.io/composite"
RESOURCE_NAME = "crossplane.io/composition-resource-name"


class Cluster:
    """Crossplane v2 and provider-sql, for a composite's Extensions only.

    Crossplane (composition_functions.go): observed = the resources in resourceRefs; a resource
    the function stops returning loses Crossplane's labels, is deleted (the API server sets its
    deletionTimestamp while a finalizer holds it) and leaves resourceRefs; a desired resource is
    applied under the name it has in resourceRefs, else under the name the function gives, else a
    new one. provider-sql (extension/reconciler.go with crossplane-runtime's managed reconciler):
    a deleted Extension whose policies allow Delete runs DROP and keeps its finalizer while that
    fails, with the error on Synced; one whose policies don't is let go without SQL.
    """

    def __init__(self, stub, base: dict, provider: PostgresProvider):
        self.stub, self.base, self.provider = stub, base, provider
        self.objects: dict[str, dict] = {}  # Extensions by metadata.name
        self.refs: dict[str, str] = {}  # resource name -> metadata.name
        self.names = (f"orders-{i}" for i in itertools.count(1))

    def reconcile(self, spec: dict) -> fnv1.RunFunctionResponse:
        xr = composite("PostgresqlInstance", spec)
        observed = {**self.base}
        observed.update(
            {k: copy.deepcopy(self.objects[n]) for k, n in self.refs.items() if n in self.objects}
        )
        rsp = call(self.stub, xr, list(self.objects.values()), observed)
        prefixes = (lifecycle.KEY_PREFIX, lifecycle.RELEASE_PREFIX)
        got = {k: b for k, b in desired(rsp).items() if k.startswith(prefixes)}
        for key, name in list(self.refs.items()):
            if key not in got:
                if name not in self.objects:  # gone: Crossplane skips what it cannot find
                    del self.refs[key]
                    continue
                meta = self.objects[name]["metadata"]
                meta["labels"].pop(COMPOSITE_LABEL, None)
                meta.setdefault("deletionTimestamp", "2026-11-27T03:00:00Z")
                del self.refs[key]
        for key, body in got.items():
            name = self.refs.get(key) or body["metadata"].get("name") or next(self.names)
            old = self.objects.get(name, {})
            meta = {
                **old.get("metadata", {}),
                "name": name,
                "labels": {**body["metadata"].get("labels", {}), COMPOSITE_LABEL: "orders-x"},
                "annotations": {RESOURCE_NAME: key},
                "ownerReferences": [{"kind": xr["kind"], "uid": UID, "controller": True}],
            }
            self.objects[name] = {**body, "metadata": meta, "status": old.get("status", {})}
            self.refs[key] = name
        return rsp

    def provider_sql(self) -> None:
        for name, obj in list(self.objects.items()):
            spec = obj["spec"]
            if obj["metadata"].get("deletionTimestamp"):
                policies = set(spec.get("managementPolicies") or ["*"])
                drops = spec.get("deletionPolicy") != "Orphan" and bool(policies & {"*", "Delete"})
                if drops and self.provider.up_to_date(obj):
                    try:
                        self.provider.delete(obj)
                    except psycopg.Error as err:
                        text = f"pq: {err.diag.message_primary} ({err.sqlstate})"
                        self._status(obj, False, f"delete failed: cannot drop extension: {text}")
                        continue
                del self.objects[name]
                continue
            if not self.provider.up_to_date(obj):
                self.provider.create(obj)
            self._status(obj, True)

    @staticmethod
    def _status(obj: dict, ok: bool, message: str = "") -> None:
        synced = {"type": "Synced", "status": "True", "reason": "ReconcileSuccess"}
        if not ok:
            synced = {"type": "Synced", "status": "False", "reason": "ReconcileError",
                      "message": message}  # fmt: skip
        deleting = obj["metadata"].get("deletionTimestamp")
        ready = {"type": "Ready", "status": "False" if deleting else "True",
                 "reason": "Deleting" if deleting else "Available"}  # fmt: skip
        obj["status"] = {"conditions": [ready, synced]}


@pytest.fixture(scope="module")
def pg17():
    from tests.test_parameters_sql import Pg, _binding, _tempdir

    base = _tempdir("lifecycle")
    try:
        with postgresql("17", base / "server") as server:
            pg = Pg(server, base / "server")
            pg.creds = _binding(pg)
            yield pg
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.sql
def test_a_removed_extension_in_use_stays_says_why_and_goes_once_unused(stub, base, pg17):
    from tests.test_parameters_sql import _connect_as

    world = Cluster(stub, base, pg17.provider)

    def settle(spec: dict) -> fnv1.RunFunctionResponse:
        """Crossplane and provider-sql, turn about, until the function's answer is stable."""
        for _ in range(3):
            world.reconcile(spec)
            world.provider_sql()
        return world.reconcile(spec)

    def installed() -> bool:
        with pg17.superuser(DB_NAME) as su:
            row = su.execute("SELECT 1 FROM pg_extension WHERE extname = 'citext'").fetchone()
            return row is not None

    def drops() -> int:
        return sum(s.startswith("DROP EXTENSION") for s in pg17.provider.statements)

    rsp = settle(spec_with("citext"))
    assert ext_condition(rsp) == ("TRUE", "ExtensionsAsListed", "in database app: citext")
    with _connect_as(pg17, pg17.creds) as app:
        app.execute("CREATE TABLE emails (address citext PRIMARY KEY)")
        app.execute("INSERT INTO emails VALUES ('Ann@example.org')")

    # Removed while a column uses it: provider-sql's DROP fails; the developer is told why.
    rsp = settle(spec_with())
    blocked = (
        "delete failed: cannot drop extension: pq: cannot drop extension citext because other "
        "objects depend on it (2BP01)"
    )
    assert ext_condition(rsp) == (
        "FALSE",
        "ExtensionDropBlocked",
        f'"citext" stays in database "app": provider-sql cannot drop it ({blocked})',
    )
    assert [r.message for r in rsp.results if r.reason == Reason.EXTENSION_DROP_BLOCKED] == [
        f'{WHO}: extension "citext" stays in database "app": provider-sql cannot drop it '
        f'({blocked}); drop what uses it (provider-sql then drops it), or put "citext" back '
        "into spec.config.extensions to keep it"
    ]
    assert installed() and drops() > 0
    tried = drops()

    # Put back: the old Extension goes without a DROP, a new one finds it there; the data stays.
    rsp = settle(spec_with("citext"))
    assert ext_condition(rsp) == ("TRUE", "ExtensionsAsListed", "in database app: citext")
    assert list(world.objects) == ["orders-2"] and installed()
    assert drops() == tried
    with _connect_as(pg17, pg17.creds) as app:
        row = app.execute("SELECT count(*) FROM emails WHERE address = 'ann@EXAMPLE.org'")
        assert row.fetchone() == (1,)
        # Its users gone after the release: nothing drops the extension behind the list's back.
        app.execute("DROP TABLE emails")
    rsp = settle(spec_with("citext"))
    assert installed() and drops() == tried
    assert ext_condition(rsp) == ("TRUE", "ExtensionsAsListed", "in database app: citext")

    # Removed again while in use, then its user dropped: dropped, the warning clears.
    with _connect_as(pg17, pg17.creds) as app:
        app.execute("CREATE TABLE emails (address citext)")
    rsp = settle(spec_with())
    assert ext_condition(rsp)[1] == "ExtensionDropBlocked" and installed()
    with _connect_as(pg17, pg17.creds) as app:
        app.execute("DROP TABLE emails")
    rsp = settle(spec_with())
    assert ext_condition(rsp) == ("TRUE", "ExtensionsAsListed", "none listed, none left")
    assert not [r for r in rsp.results if r.reason == Reason.EXTENSION_DROP_BLOCKED]
    assert world.objects == {} and not installed()


@pytest.mark.sql
def test_deleting_the_instance_never_drops_an_extension(stub, base, pg17):
    """Crossplane deletes every composed resource with the instance: an Extension is let go
    without SQL (the database goes with its extensions, and a DROP that PostgreSQL refuses would
    hold the Extension forever once the server is gone)."""
    world = Cluster(stub, base, pg17.provider)
    world.reconcile(spec_with("hstore"))
    world.provider_sql()
    before = list(pg17.provider.statements)
    for obj in world.objects.values():  # the composite's deletion reaches every resource
        obj["metadata"]["deletionTimestamp"] = "2026-11-27T04:00:00Z"
    world.provider_sql()
    assert world.objects == {} and pg17.provider.statements == before
