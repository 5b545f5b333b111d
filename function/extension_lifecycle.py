"""PostgreSQL extensions over time: created once the server is up, dropped when removed from the
list only where PostgreSQL allows it, and the developer told why an extension stays.

What the function can see (Crossplane v2, internal/controller/apiextensions/composite): a composed
resource the function stops returning is garbage collected: Crossplane strips its
crossplane.io/composite and claim labels, deletes it and drops it from the composite's
resourceRefs in the same reconcile; from the next reconcile on it is no longer observed.
provider-sql then runs `DROP EXTENSION IF EXISTS` (no CASCADE) on every retry and keeps the
resource, with the error on its Synced condition, as long as PostgreSQL refuses (2BP01: objects
depend on it). So every Extension carries the function's own label naming the instance, and the
function requires them by that label: it sees the ones being deleted, reports why one stays, and
sees it go.

Extensions are composed to be kept when deleted (the mode's retain fields), so that deleting the
instance never runs a DROP against a database on its way out. Removing one from the list takes two
reconciles: first its Extension is composed once more allowing the delete, then it is left out.

Putting an extension back into the list while its old Extension is still being deleted must not
leave that old resource dropping the extension the moment its dependants go: the function
composes the old resource once more, by its name, with the mode's retain fields (deletionPolicy
Orphan, or no Delete in its management policies), so that provider-sql lets it go without a
DROP, and composes a new Extension beside it (CREATE EXTENSION IF NOT EXISTS changes nothing).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from crossplane.function import response
from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function import conditions, extensions, naming, resources
from function.conditions import Reason, Type
from function.request import Request
from function.resources import dig

LABEL = naming.LABEL_EXTENSIONS_OF
REQUIREMENT = "sql-extensions"
KEY_PREFIX = extensions.resource_name("")
# An old Extension composed once more to let it go (by its own name): not an extension's key.
RELEASE_PREFIX = "sql-released-extension-"

# Condition (PostgresqlInstance, Restore) and its reasons.


def release_key(name: str) -> str:
    return RELEASE_PREFIX + name


@dataclass(frozen=True)
class Seen:
    """One Extension of this instance as Crossplane or the requirement shows it."""

    name: str  # metadata.name
    extension: str
    deleting: bool
    drops: bool  # deleting it runs DROP (not released)
    ready: bool
    error: str  # the Synced=False message, or ""
    body: dict


def _seen(body: dict) -> Seen:
    spec = dig(body, "spec", default={})
    policies = [p for p in dig(spec, "managementPolicies", default=[]) if isinstance(p, str)]
    drops = spec.get("deletionPolicy") != "Orphan" and bool(
        {"*", "Delete"} & set(policies or ["*"])
    )
    error = ""
    for c in dig(body, "status", "conditions", default=[]) or []:
        if isinstance(c, dict) and c.get("type") == "Synced" and c.get("status") == "False":
            error = str(c.get("message") or c.get("reason") or "")
    return Seen(
        name=dig(body, "metadata", "name", default="") or "",
        extension=dig(body, "spec", "forProvider", "extension", default="") or "",
        deleting=bool(dig(body, "metadata", "deletionTimestamp")),
        drops=drops,
        ready=resources.is_ready(body),
        error=error,
        body=body,
    )


def require(r: Request, rsp: fnv1.RunFunctionResponse, identifier: str) -> None:
    m = r.mode
    response.require_resources(
        rsp,
        REQUIREMENT,
        m.sql_api("postgresql"),
        "Extension",
        match_labels={LABEL: identifier},
        namespace=m.owner_namespace if m.namespaced else None,
    )


def _controlled(r: Request, body: dict) -> bool:
    """Only resources this composite controls: a namespace's users may label their own."""
    uid = dig(r.composite, "metadata", "uid")
    for ref in dig(body, "metadata", "ownerReferences", default=[]) or []:
        if isinstance(ref, dict) and ref.get("controller"):
            return not uid or ref.get("uid") == uid
    return False


@dataclass
class State:
    """Every Extension of the instance: composed ones by resource name, and the ones Crossplane
    no longer lists (being deleted) by metadata name."""

    composed: dict[str, Seen] = field(default_factory=dict)
    deleting: dict[str, Seen] = field(default_factory=dict)  # by metadata name

    def live(self, extension: str) -> Seen | None:
        seen = self.composed.get(extensions.resource_name(extension))
        return seen if seen is not None and not seen.deleting else None


def observe(r: Request, rsp: fnv1.RunFunctionResponse, identifier: str) -> State:
    require(r, rsp, identifier)
    state = State()
    for key in r.observed:
        if not key.startswith((KEY_PREFIX, RELEASE_PREFIX)):
            continue
        seen = _seen(r.observed[key])
        if key.startswith(KEY_PREFIX):
            state.composed[key] = seen
        if seen.deleting:
            state.deleting[seen.name] = seen
    for body in r.required(REQUIREMENT) or []:
        if _controlled(r, body) and dig(body, "metadata", "deletionTimestamp"):
            seen = _seen(body)
            state.deleting.setdefault(seen.name, seen)
    return state


def compose(
    r: Request,
    rsp: fnv1.RunFunctionResponse,
    state: State,
    wanted: tuple[str, ...],
    *,
    identifier: str,
    database: str,
    provider_config_name: str,
    server_ready: bool,
) -> None:
    """The Extension of every listed extension (once the server is up; one that exists is kept
    whatever the server's state), and the release of an old one that is listed again."""
    for name in wanted:
        key = extensions.resource_name(name)
        have = state.composed.get(key)
        if have is not None and have.deleting:
            # Its name is being deleted: a new Extension comes once Crossplane let go of it.
            continue
        if not server_ready and have is None:
            continue
        body = extensions.compose_extension(
            name,
            database=database,
            provider_config_name=provider_config_name,
            namespaced=r.mode.namespaced,
            owner=identifier,
        )
        resources.set_desired(rsp, key, body, r.observed.ready(key))
    for key, seen in state.composed.items():
        if seen.extension not in wanted and not seen.deleting and not seen.drops:
            # Removed from the list: allowed to DROP first; left out (deleted) next reconcile.
            resources.set_desired(rsp, key, _arm(r, seen), r.observed.ready(key))
    for seen in state.deleting.values():
        if seen.extension in wanted and seen.drops:
            resources.set_desired(rsp, release_key(seen.name), _release(r, seen))


def _arm(r: Request, seen: Seen) -> dict:
    """The Extension exactly as it exists, with its delete running DROP."""
    drop = {"managementPolicies": ["*"]} if r.mode.namespaced else {"deletionPolicy": "Delete"}
    return _with_policy(seen, drop)


def _release(r: Request, seen: Seen) -> dict:
    """The Extension exactly as it exists, minus what would DROP it."""
    return _with_policy(seen, r.mode.retain())


def _with_policy(seen: Seen, policy: dict) -> dict:
    spec = {
        k: v
        for k, v in (seen.body.get("spec") or {}).items()
        if k not in ("deletionPolicy", "managementPolicies")
    }
    return {
        "apiVersion": seen.body.get("apiVersion"),
        "kind": "Extension",
        "metadata": {**resources.own_metadata(seen.body), "name": seen.name},
        "spec": {**spec, **policy},
    }


def report(
    r: Request,
    rsp: fnv1.RunFunctionResponse,
    state: State,
    wanted: tuple[str, ...],
    database: str,
    secrets: tuple[str, ...] = (),
) -> None:
    """ExtensionsReady, and a warning for every removed extension provider-sql cannot drop
    (PostgreSQL refuses while objects depend on it: the provider's message says so)."""
    who = r.described()
    dropping = sorted(
        {s.extension for s in state.deleting.values() if s.drops and s.extension not in wanted}
        | {s.extension for s in state.composed.values() if s.extension not in wanted}
    )
    blocked: dict[str, str] = {}
    for s in sorted(state.deleting.values(), key=lambda s: s.name):
        if s.drops and s.error and s.extension not in wanted:
            blocked.setdefault(s.extension, conditions.scrub(s.error, secrets))
    for name, error in blocked.items():
        conditions.warn(
            rsp,
            Reason.EXTENSION_DROP_BLOCKED,
            f'{who}: extension "{name}" stays in database "{database}": provider-sql cannot '
            f"drop it ({error}); drop what uses it (provider-sql then drops it), or put "
            f'"{name}" back into {extensions.FIELD} to keep it',
        )
    live = {n: state.live(n) for n in wanted}
    creating = [n for n, seen in live.items() if not (seen and seen.ready)]
    failing = {
        n: conditions.scrub(seen.error, secrets)
        for n in creating
        if (seen := live[n]) is not None and seen.error
    }
    if blocked:
        status, reason = False, Reason.EXTENSION_DROP_BLOCKED
        message = "; ".join(
            f'"{n}" stays in database "{database}": provider-sql cannot drop it ({e})'
            for n, e in blocked.items()
        )
    elif dropping or creating:
        status, reason = False, Reason.EXTENSIONS_PENDING
        parts = [
            f"creating {n}" + (f" ({failing[n]})" if n in failing else "") for n in creating
        ] + [f"dropping {n}" for n in dropping]
        message = f"waiting for provider-sql in database {database}: " + ", ".join(parts)
    else:
        status, reason = True, Reason.EXTENSIONS_AS_LISTED
        message = (
            f"in database {database}: {', '.join(wanted)}" if wanted else "none listed, none left"
        )
    rsp.conditions.append(conditions.condition(Type.EXTENSIONS_READY, status, reason, message))


def report_none(rsp: fnv1.RunFunctionResponse, engine: str) -> None:
    """An engine without extensions: as listed (none). Only a kind that owns the condition sends
    it (a MySQL Restore; not a MysqlInstance): conditions.complete keeps the owned types."""
    message = f"none: extensions are for PostgreSQL, this is {engine}"
    rsp.conditions.append(
        conditions.condition(Type.EXTENSIONS_READY, True, Reason.EXTENSIONS_AS_LISTED, message)
    )
