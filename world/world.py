"""The world: an API server, Crossplane and provider-upjet-aws on moto, run round by round on a
simulated clock, with the convergence check every scenario step must pass."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from function import render
from tests import aws as calls
from world import data as databases
from world.aws import Provider
from world.crossplane import Crossplane, Refused, decode, is_ready
from world.store import Clock, Store, key_of

REGION = "eu-central-1"
NAMESPACE = "team-orders"
MAX_ROUNDS = 40  # one simulated minute each: creation takes 10 (a replica 10 more), a modify 5
QUIET_ROUNDS = 10


@dataclass
class StepResult:
    name: str
    lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    refused_by_api: bool = False

    def render(self) -> str:
        return "\n".join(self.lines + [f"   FAIL {f}" for f in self.failures])


@contextlib.contextmanager
def running_function(address: str | None) -> Iterator[str]:
    """The function to talk to: the given address, or its own real gRPC server."""
    if address:
        yield address
        return
    with render.own_server(timeout=30) as own:
        yield own


def aws() -> contextlib.AbstractContextManager[None]:
    """moto in the world's region, with the subnet group the platform Input names."""
    return calls.platform()


class World:
    def __init__(
        self, address: str, namespaced: bool = False, servers: databases.Servers | None = None
    ) -> None:
        """servers: real databases behind the RDS instances, and provider-sql's SQL replayed
        on them (world/data.py); without, provider-sql runs no SQL and apps cannot connect."""
        self.clock = Clock()
        self.store = Store(self.clock)
        self.crossplane = Crossplane.load(self.store, address, namespaced)
        self.data = databases.Data(servers, self.clock) if servers is not None else None
        self.provider = Provider(self.store, self.clock, REGION, data=self.data)
        self.timeline: list[StepResult] = []
        self.deleted: set[str] = set()  # claims (or namespaced XRs) the scenario deleted

    # --- one round: every controller once, then a simulated minute ---------------------------
    def round(self) -> None:
        self.crossplane.reconcile()
        self.provider.reconcile()
        self.provider.sql()
        self.clock.advance(1)

    def managed(self) -> list[dict]:
        return [o for o in self.store.list() if ".upbound.io/" in o["apiVersion"]]

    def settled(self, expected_error: str | None = None) -> bool:
        return not self.unsettled(expected_error)

    def unsettled(self, expected_error: str | None = None) -> list[str]:
        """What keeps the world from a fixed point: managed resources not Synced and Ready
        (except those failing with the step's expected error), claims not Ready."""
        out = []
        failing = set()
        for mr in self.managed():
            conds = {c["type"]: c for c in mr.get("status", {}).get("conditions", [])}
            msg = conds.get("Synced", {}).get("message", "")
            if expected_error and expected_error in msg:
                labels = mr["metadata"]["labels"]
                failing.add(
                    labels.get("crossplane.io/claim-name") or labels["crossplane.io/composite"]
                )
                continue
            conds = {t: c["status"] for t, c in conds.items()}
            if conds.get("Synced") != "True" or conds.get("Ready") != "True":
                out.append(
                    f"{mr['kind']}/{mr['metadata']['name']} Synced={conds.get('Synced')} "
                    f"Ready={conds.get('Ready')}"
                )
        out += [
            f"{_ref(c)} not Ready"
            for c in self.crossplane.claims()
            if not is_ready(c) and c["metadata"]["name"] not in failing
        ]
        return out

    # --- a scenario step ---------------------------------------------------------------------
    def step(
        self,
        name: str,
        claim: dict | list[dict] | None = None,
        delete: tuple[tuple[str, str], ...] = (),
        hours: float = 0,
        may_refuse: bool = False,
        expected_error: str | None = None,
        may_delete: tuple[str, ...] = (),
    ) -> StepResult:
        """Apply `claim` (after `hours` of simulated time), then run until a fixed point and
        check it: everything Synced and Ready, no provider error on the way, then QUIET_ROUNDS
        rounds with no AWS call and no write; nothing deleted or replaced unless the step says so.
        `may_refuse`: the API server may refuse the claim (a mistake its schema or CEL rules
        catch); otherwise a refusal fails the step. `expected_error`: a provider error this step
        provokes on purpose (it must happen; others still fail the step)."""
        result = StepResult(name)
        self.timeline.append(result)
        self.clock.advance(hours * 60)
        result.lines.append(f"== {name} ({self.clock.stamp()})")
        names = {
            k: (o["metadata"].get("annotations") or {}).get(
                "crossplane.io/composition-resource-name", ""
            )
            for k, o in self.store.objects.items()
        }
        owners = {k: _claim_name(o) for k, o in self.store.objects.items()}
        instances = {
            o["spec"]["forProvider"]["identifier"]: _claim_name(o)
            for o in self.managed()
            if o["kind"] == "Instance"
        }
        writes0, calls0, errors0, sql0 = (
            len(self.store.writes),
            len(self.provider.calls),
            len(self.provider.errors),
            len(self.provider.sql_statements),
        )
        log0 = len(self.data.log) if self.data else 0
        events0, grpc0 = len(self.crossplane.events), self.crossplane.calls
        for c in [claim] if isinstance(claim, dict) else claim or []:
            try:
                self.crossplane.apply_claim(c)
                result.lines.append(f"   kubectl apply {_ref(c)}: {c.get('spec')}")
            except Refused as err:
                result.refused_by_api = True
                result.lines.append(f"   kubectl apply refused by the API server: {err}")
                if not may_refuse:
                    result.failures.append(f"the API server refused the claim: {err}")
        for kind, claim_name in delete:
            self.crossplane.delete_claim(kind, NAMESPACE, claim_name)
            self.deleted.add(claim_name)
            result.lines.append(f"   kubectl delete {kind}/{claim_name}")
        rounds = 0
        quiet_from = None
        for rounds in range(1, MAX_ROUNDS + 1):  # noqa: B007 (reported below)
            before = (len(self.store.writes), len(self.provider.calls))
            self.round()
            if (len(self.store.writes), len(self.provider.calls)) == before and self.settled(
                expected_error
            ):
                quiet_from = before
                break
        if quiet_from is None:
            last = sorted({f"{m} {k[1]}/{k[3]} {w}" for m, k, w in self.store.writes[before[0] :]})
            last += [f"AWS {c}" for c in self.provider.calls[before[1] :]]
            last += self.unsettled(expected_error)
            result.failures.append(
                f"no fixed point within {MAX_ROUNDS} reconciles; the last one: " + "; ".join(last)
            )
        else:
            sql_quiet = len(self.provider.sql_statements)
            for _ in range(QUIET_ROUNDS):
                self.round()
            extra_writes = self.store.writes[quiet_from[0] :]
            extra_calls = self.provider.calls[quiet_from[1] :]
            extra_sql = self.provider.sql_statements[sql_quiet:]
            if extra_writes or extra_calls or extra_sql:
                result.failures.append(
                    f"not quiet: {QUIET_ROUNDS} more reconciles made {len(extra_calls)} AWS "
                    f"call(s), {len(extra_sql)} SQL statement(s) other than observes "
                    f"and {len(extra_writes)} write(s), e.g. "
                    + "; ".join(
                        [c for c in extra_calls[:2]]
                        + [_masked(q) for q in extra_sql[:2]]
                        + [f"{m} {k[1]}/{k[3]} {w}" for m, k, w in extra_writes[:3]]
                    )
                )
        calls = self.provider.calls[calls0:]
        errors = self.provider.errors[errors0:]
        writes = self.store.writes[writes0:]
        if quiet_from is not None:
            result.lines.append(
                f"   fixed point after {rounds} reconcile(s); "
                f"{self.crossplane.calls - grpc0} RunFunction call(s) in all"
            )
        for c in _dedup(calls):
            result.lines.append(f"   AWS {c}")
        for q in _dedup([_masked(q) for q in self.provider.sql_statements[sql0:]]):
            result.lines.append(f"   SQL {q}")
        for d in self.data.log[log0:] if self.data else []:
            result.lines.append(f"   data: {d}")
        for e in _dedup(errors):
            result.lines.append(f"   provider error: {e}")
            if not expected_error or expected_error not in e:
                result.failures.append(f"provider error: {e}")
        if expected_error and not any(expected_error in e for e in errors):
            result.failures.append(f"the expected provider error did not happen: {expected_error}")
        for ev in _dedup(
            [f"{e.severity} {e.reason}: {e.message}" for e in self.crossplane.events[events0:]]
        ):
            result.lines.append(f"   event {ev}")
        for _, key, what in writes:
            name = names.get(key, "")
            owner = owners.get(key) in self.deleted or key[3] in self.deleted
            if (
                what == "deleted"
                and key[1] != "Secret"
                and not name.startswith(may_delete)
                and not owner
            ):
                result.failures.append(f"{key[1]} {name or key[3]} deleted")
        for c in _dedup(calls):
            # An instance deleted in AWS is data lost: only where the scenario deletes it.
            gone = {i for i, owner in instances.items() if owner in self.deleted}
            if c.startswith("DeleteDBInstance") and not may_delete_rds(c, may_delete, gone):
                result.failures.append(f"AWS {c}")
        result.lines += self.describe()
        return result

    # --- apps: clients with nothing but a binding's Secret -----------------------------------
    def apps(self, name: str, minutes: float = 0) -> StepResult:
        """A step of apps at work (no change to any object), after `minutes` of simulated time:
        app() adds to it."""
        result = StepResult(name)
        self.timeline.append(result)
        self.clock.advance(minutes)
        result.lines.append(f"== {name} ({self.clock.stamp()})")
        return result

    def app(self, step: StepResult, secret: str, statement: str) -> list[tuple] | None:
        """One session of an app with the `uri` of Secret `secret` in the developer's namespace:
        runs `statement`; None (and a failure of the step) if it fails. A session that writes
        is in the instance's automated backups from this minute."""
        try:
            obj = self.store.get(("v1", "Secret", NAMESPACE, secret))
            if obj is None:
                raise LookupError(f"Secret {NAMESPACE}/{secret} does not exist")
            assert self.data is not None, "apps need servers behind the instances"
            identifier, uri = self.data.route(decode(obj["data"])["uri"])
            conn = databases.connect(uri)
            with conn:
                cur = conn.cursor()
                cur.execute(statement)
                rows = [tuple(r) for r in cur.fetchall()] if cur.description else []
        except Exception as err:  # any client error is the step's failure, not a crash
            step.lines.append(f"   app [{secret}] {statement}: {type(err).__name__}: {err}")
            step.failures.append(f"app [{secret}] {statement}: {err}")
            return None
        if not statement.lstrip().upper().startswith("SELECT"):
            self.data.keep(identifier)
        step.lines.append(f"   app [{secret}] {statement}" + (f" -> {rows}" if rows else ""))
        return rows

    def app_refused(self, step: StepResult, secret: str, statement: str) -> None:
        """The statement must be refused (a readOnly binding writing)."""
        lines, failures = len(step.lines), len(step.failures)
        if self.app(step, secret, statement) is not None:
            step.failures.append(f"app [{secret}] {statement}: not refused")
        else:
            del step.failures[failures:]
            step.lines[lines] = step.lines[lines].replace(": ", ": refused: ", 1)

    def describe(self) -> list[str]:
        out = []
        for claim in self.crossplane.claims():
            status = claim.get("status") or {}
            facts = " ".join(
                f"{k}={_number(v)}" for k, v in status.items() if k in _SHOWN and v is not None
            )
            gone = " (deleting)" if claim["metadata"].get("deletionTimestamp") else ""
            out.append(f"   {_ref(claim)}{gone}: {facts}")
            for c in status.get("conditions") or []:
                msg = f" {c['message']}" if c.get("message") else ""
                out.append(f"     {c['type']}={c['status']} {c['reason']}{msg}")
        for mr in self.managed():
            conds = {c["type"]: c["status"] for c in mr.get("status", {}).get("conditions", [])}
            name = (mr["metadata"].get("annotations") or {}).get(
                "crossplane.io/composition-resource-name"
            )
            out.append(
                f"   {mr['kind']} {name}: Synced={conds.get('Synced')} Ready={conds.get('Ready')}"
            )
        return out

    def claim(self, kind: str, name: str, namespace: str) -> dict:
        for c in self.crossplane.claims():
            if key_of(c)[1:] == (kind, namespace, name):
                return c
        raise KeyError(name)


_SHOWN = ("phase", "version", "plan", "allocatedStorage", "replicas", "username", "secretName",
          "snapshotIdentifier", "identifier")  # fmt: skip


def _number(v: object) -> object:
    return int(v) if isinstance(v, float) and v.is_integer() else v


def may_delete_rds(call: str, may_delete: tuple[str, ...], deleted: set[str]) -> bool:
    """deleted: identifiers of the instances of claims the scenario deleted."""
    # Replica identifiers end in -r<N> (function/instance.py compose_replica).
    identifier = call.split()[1]
    replica = identifier.rsplit("-", 1)[-1].startswith("r")
    return identifier in deleted or ("replica-" in may_delete and replica)


def _claim_name(obj: dict) -> str:
    labels = obj["metadata"].get("labels") or {}
    return labels.get("crossplane.io/claim-name") or labels.get("crossplane.io/composite", "")


def _masked(statement: str) -> str:
    """SQL for the timeline: no password."""
    return re.sub(r"(PASSWORD|IDENTIFIED BY) '[^']*'", r"\1 '***'", statement)


def _ref(obj: dict) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def _dedup(items: list[str]) -> list[str]:
    """Each distinct line once, in first-seen order, with how often it happened."""
    counts: dict[str, int] = {}
    for i in items:
        counts[i] = counts.get(i, 0) + 1
    return [f"{i} (x{n})" if n > 1 else i for i, n in counts.items()]
