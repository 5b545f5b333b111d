"""ServiceBinding: one database user and one Secret for one app (SPEC §1.2).

Pipeline: parse spec -> require the referenced instance (or Restore) -> check it exists, has the
asked type and is ready -> compose the SQL user, its grant, a Usage that keeps the instance
until the user is dropped, and the Secret -> readiness and status.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

from crossplane.function import response
from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function import conditions, engines, inputs, naming, refs, resources, specs, sql
from function.conditions import Problem, Reason, Type
from function.request import Request
from function.resources import dig
from function.specs import BindingRef, BindingSpec, BindingStatus

USER = "user"
GRANT = "grant"
USAGE = "usage"
SECRET = "secret"

CLAIM_REQUIREMENT = "binding-claim"

SECRET_KEYS = (
    "username",
    "password",
    "dbname",
    "endpoint",
    "host",
    "port",
    "database",
    "uri",
    "type",
    "engine",
    "provider",
    "sslmode",
)
# Present only when the platform gives tls.caBundle: the names pg (root.crt) and most other
# clients (ca.crt) map to their CA option.
CA_KEYS = ("ca.crt", "root.crt")
OPTIONAL_KEYS = (*CA_KEYS, "sslrootcert")


def run(r: Request, rsp: fnv1.RunFunctionResponse) -> None:
    user = sql.username(r.mode.owner_namespace, r.mode.owner_name)
    status = BindingStatus(
        # Status is typed: a refused value of another type must not be echoed into it.
        instance=ref if isinstance(ref := r.spec.get("instanceRef"), str) else None,
        secretName=secret_name(r),
        username=user,
        # Once the Secret exists, its name and type stay on every path (servicebinding.io).
        **_published(r),
    )
    spec, err, _ = specs.parse(BindingSpec, r.spec)
    if err is not None:
        problems = [
            Problem(m.split(":", 1)[0], Reason.SPEC_INVALID, f"cannot bind {r.described()}: {m}")
            for m in inputs.describe_errors(err, "spec")
        ]
        return _stop(r, rsp, problems, status)
    assert spec is not None
    secret = secret_name(r)
    if len(secret) > naming.K8S_NAME_MAX:
        # The API server would refuse the Secret on every apply: the binding could never publish.
        field, allowed = "spec.writeConnectionSecretToRef.name", "a shorter name"
        if secret == _default_secret_name(r):
            room = naming.K8S_NAME_MAX - len(secret) + len(r.mode.owner_name)
            field, allowed = "metadata.name", f"a ServiceBinding name of at most {room} characters"
            if r.mode.namespaced:
                allowed += ", or spec.writeConnectionSecretToRef.name"
        message = (
            f'cannot bind {r.described()}: {field}: the Secret name "{secret}" has {len(secret)} '
            f"characters, more than a Kubernetes name may have ({naming.K8S_NAME_MAX}); "
            f"allowed: {allowed}"
        )
        return _stop(r, rsp, [Problem(field, Reason.SPEC_INVALID, message)], status)

    role = spec.role or "readWrite"
    if not r.mode.namespaced and r.mode.owner_namespace:
        # Asked for with the instance, so that Crossplane fetches both in one round.
        response.require_resources(
            rsp,
            CLAIM_REQUIREMENT,
            r.composite.get("apiVersion", ""),
            r.kind.removeprefix("X"),
            match_name=r.mode.owner_name,
            namespace=r.mode.owner_namespace,
        )
    target = refs.resolve(
        r, rsp, spec.instanceRef, spec.serviceInstanceType, kind=spec.instanceKind
    )
    if target.problem is not None:
        p = target.problem
        rsp.conditions.append(conditions.condition(Type.INSTANCE_READY, False, p.reason, p.message))
        problems = _immutables(r, None, role)
        if p.reason not in conditions.WAITING:  # refused: the spec must change
            problems.append(p)
        elif p.reason != Reason.INSTANCE_RESOLVING:
            conditions.warn(rsp, p.reason, p.message)
        return _stop(r, rsp, problems, status)
    assert target.instance is not None
    inst = target.instance
    status.type = inst.engine
    rsp.conditions.append(
        conditions.condition(Type.INSTANCE_READY, True, Reason.INSTANCE_AVAILABLE)
    )

    problems = _immutables(r, inst, role)
    if problems:
        return _stop(r, rsp, problems, status)
    conditions.report_valid(rsp)

    connection_secret = f"{naming.rds_identifier(r.mode.owner_namespace, r.mode.owner_name)}-user"
    resources.set_desired(
        rsp,
        USER,
        sql.compose_user(r.mode, inst.engine, inst.provider_config, user, role, connection_secret),
        r.observed.ready(USER),
    )
    resources.set_desired(
        rsp,
        GRANT,
        sql.compose_grant(r.mode, inst.engine, inst.provider_config, user, role, inst.dbname),
        r.observed.ready(GRANT),
    )
    resources.set_desired(rsp, USAGE, compose_usage(r, inst), True)

    values = secret_values(r.connection_details(USER), inst, r.input.tls.caBundle)
    clash = claim_secret_clash(r)
    if values is not None and not r.mode.namespaced:
        for key, value in values.items():
            rsp.desired.composite.connection_details[key] = value.encode()
    if values is None or clash:
        # Ready means an app can use the Secret, not only that the user exists.
        rsp.desired.composite.ready = fnv1.READY_FALSE
        if SECRET in r.observed:  # never drop a Secret an app may be using
            resources.keep_observed(rsp, {SECRET: r.observed[SECRET]})
    if values is None:
        rsp.conditions.append(
            conditions.condition(
                Type.CREDENTIALS_READY,
                False,
                Reason.CREDENTIALS_PENDING,
                f"waiting for the SQL provider to create user {user} on {inst.described}",
            )
        )
    elif clash:
        # Two writers of one Secret would fight; the claim's own Secret gets every key anyway.
        rsp.conditions.append(
            conditions.condition(Type.CREDENTIALS_READY, False, Reason.SECRET_NAME_CLASH, clash)
        )
        conditions.warn(rsp, Reason.SECRET_NAME_CLASH, clash)
    else:
        rsp.conditions.append(
            conditions.condition(Type.CREDENTIALS_READY, True, Reason.CREDENTIALS_PUBLISHED)
        )
        resources.set_desired(rsp, SECRET, compose_secret(r, values), True)
        status.binding = BindingRef(name=secret_name(r))
    resources.set_status(rsp, status)


def _published(r: Request) -> dict[str, Any]:
    """status.binding and status.type as the observed Secret tells them, if it exists."""
    secret = r.observed.get(SECRET)
    if secret is None:
        return {}
    out: dict[str, Any] = {
        "binding": BindingRef(name=dig(secret, "metadata", "name", default="") or secret_name(r))
    }
    # The engine the Secret was written for: its `engine` key (a Secret written before that key
    # existed names the engine in its type).
    encoded = dig(secret, "data", "engine")
    try:
        engine = base64.b64decode(encoded).decode() if isinstance(encoded, str) else ""
    except ValueError:
        engine = ""
    engine = engine or str(secret.get("type") or "").removeprefix("servicebinding.io/")
    if engine in engines.ENGINES:
        out["type"] = engine
    return out


def _stop(
    r: Request, rsp: fnv1.RunFunctionResponse, problems: list[Problem], status: BindingStatus
) -> None:
    """Keep what exists; SpecValid and CredentialsReady say what is true of it now."""
    if problems:
        conditions.report_problems(rsp, problems)
    else:  # only waiting: nothing is wrong with the spec as far as it can be checked
        conditions.report_valid(rsp)
    if SECRET in r.observed:
        assert status.binding is not None  # _published names the observed Secret
        rsp.conditions.append(
            conditions.condition(
                Type.CREDENTIALS_READY,
                True,
                Reason.CREDENTIALS_PUBLISHED,
                f'Secret "{status.binding.name}" keeps the credentials of user {status.username}',
            )
        )
    else:
        rsp.conditions.append(
            conditions.condition(
                Type.CREDENTIALS_READY,
                False,
                Reason.CREDENTIALS_PENDING,
                f"no user {status.username} yet: waiting for the instance and a valid spec",
            )
        )
    resources.keep_observed(rsp, r.observed)
    resources.set_status(rsp, status)


def _immutables(r: Request, inst: refs.Instance | None, role: str) -> list[Problem]:
    """A binding's instance and role cannot change: grants would pile up, never be revoked.
    Checked against what exists (the instance only once it is resolved), never in CEL."""
    out = []
    seen_pc = dig(r.observed.get(USER), "spec", "providerConfigRef", "name")
    if inst is not None and seen_pc and seen_pc != inst.provider_config:
        out.append(
            Problem(
                "spec.instanceRef",
                Reason.IMMUTABLE_FIELD_CHANGED,
                f"cannot bind {r.described()}: spec.instanceRef cannot change once the user "
                f"exists; allowed: the original instance, or a new ServiceBinding",
            )
        )
    grant = dig(r.observed.get(GRANT), "spec", "forProvider", default={}) or {}
    seen_role = None
    if "memberOf" in grant:
        seen_role = "readOnly" if grant["memberOf"] == sql.RO_GROUP else "readWrite"
    elif "privileges" in grant:
        seen_role = "readWrite" if grant["privileges"] == ["ALL"] else "readOnly"
    if seen_role and seen_role != role:
        out.append(
            Problem(
                "spec.role",
                Reason.IMMUTABLE_FIELD_CHANGED,
                f'cannot bind {r.described()}: spec.role cannot change from "{seen_role}" to '
                f'"{role}"; allowed: "{seen_role}", or a new ServiceBinding with the other role',
            )
        )
    return out


def claim_secret_clash(r: Request) -> str | None:
    """In cluster mode, the claim's writeConnectionSecretToRef must not name our Secret."""
    claims = r.required(CLAIM_REQUIREMENT) or []
    own = dig(claims[0], "spec", "writeConnectionSecretToRef", "name") if claims else None
    if own != secret_name(r):
        return None
    return (
        f'cannot bind {r.described()}: spec.writeConnectionSecretToRef.name "{own}" is the '
        f"Secret this binding composes; allowed: another name (the binding's own Secret "
        f'"{own}" carries the same keys)'
    )


def secret_name(r: Request) -> str:
    if r.mode.namespaced:
        ref = dig(r.spec, "writeConnectionSecretToRef", "name")
        if isinstance(ref, str) and ref:
            return ref
    return _default_secret_name(r)


def _default_secret_name(r: Request) -> str:
    return f"{r.mode.owner_name}-creds"


def secret_values(
    details: dict[str, str], inst: refs.Instance, ca_bundle: str | None = None
) -> dict[str, str] | None:
    """All SPEC keys, or None while the SQL provider has not published the user's password."""
    user, password = details.get("username"), details.get("password")
    host = inst.endpoint or details.get("endpoint")
    port = str(inst.port or details.get("port") or "")
    if not (user and password and host and port):
        return None
    e = engines.get(inst.engine)
    kind = e.binding_type
    # RDS certificates name the instance endpoint, so a client given the CA can check the host too.
    sslmode = "verify-full" if ca_bundle else "require"
    uri = (
        f"{kind}://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}/"
        f"{quote(inst.dbname, safe='')}?{e.uri_tls[bool(ca_bundle)]}"
    )
    values = {
        "username": user,
        "password": password,
        "dbname": inst.dbname,
        "database": inst.dbname,
        "endpoint": host,
        "host": host,
        "port": port,
        "uri": uri,
        "type": kind,
        "engine": inst.engine,
        "provider": "aws-rds",
        "sslmode": sslmode,
    }
    if ca_bundle:
        values.update(dict.fromkeys(CA_KEYS, ca_bundle))
        if e.ca_file_key:
            values[e.ca_file_key] = "root.crt"
    return values


def compose_secret(r: Request, values: dict[str, str]) -> dict:
    # Kubernetes never changes a Secret's type: one written before MariaDB bindings became type
    # mysql keeps servicebinding.io/mariadb (clients read the `type` key, which does change).
    kept = dig(r.observed.get(SECRET), "type")
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": secret_name(r),
            "namespace": r.mode.owner_namespace,
            "labels": {naming.LABEL_BINDING: r.mode.owner_name},
        },
        "type": kept or f"servicebinding.io/{values['type']}",
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in values.items()},
    }


def compose_usage(r: Request, inst: refs.Instance) -> dict:
    """The instance cannot be deleted while this binding's database user exists."""
    m = r.mode
    of: dict = {
        "apiVersion": inst.body.get("apiVersion"),
        "kind": inst.body.get("kind"),
        "resourceRef": {"name": dig(inst.body, "metadata", "name")},
    }
    spec = {
        "of": of,
        "by": {
            "apiVersion": m.sql_api(inst.engine),
            "kind": engines.get(inst.engine).user_kind,
            "resourceSelector": {"matchControllerRef": True},
        },
        "replayDeletion": True,
    }
    return {"apiVersion": m.usage_api, "kind": "Usage", "metadata": {}, "spec": spec}
