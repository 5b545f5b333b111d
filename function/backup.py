"""Backup: one on-demand RDS manual snapshot of an instance or a Restore (SPEC §1.3).

Pipeline: parse spec -> once the snapshot exists, keep exactly what was asked (the source may
even be gone) -> else wait for the instance to be available -> compose the rds Snapshot ->
readiness and status.
"""

from __future__ import annotations

from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function import conditions, inputs, naming, refs, resources, specs
from function.conditions import Problem, Reason, Type
from function.request import Request
from function.resources import dig
from function.specs import BackupRequestSpec, BackupRequestStatus

SNAPSHOT = "snapshot"
INSTANCE_ANNOTATION = naming.ANNOTATION_INSTANCE
# What a Restore needs to know of the source, recorded on the Snapshot when it is asked for, so
# that it stays known when the instance changes or is gone.
RECORDED = {
    "engine": naming.TAG_ENGINE,
    "version": naming.ANNOTATION_ENGINE_VERSION,
    "plan": naming.TAG_PLAN,
    "dbname": naming.ANNOTATION_DBNAME,
    "allocatedStorage": naming.ANNOTATION_ALLOCATED_STORAGE,
}


def snapshot_identifier(r: Request) -> str:
    return naming.rds_identifier(r.mode.owner_namespace, r.mode.owner_name, "Backup")


def run(r: Request, rsp: fnv1.RunFunctionResponse) -> None:
    observed = r.observed.get(SNAPSHOT)
    spec, err, _ = specs.parse(BackupRequestSpec, r.spec)
    if err is not None:
        conditions.report_problems(
            rsp,
            [
                Problem(
                    m.split(":", 1)[0], Reason.SPEC_INVALID, f"cannot back up {r.described()}: {m}"
                )
                for m in inputs.describe_errors(err, "spec")
            ],
        )
        resources.keep_observed(rsp, r.observed)
        # Status is typed: a refused value of another type must not be echoed into it.
        instance_ref = (
            r.spec.get("instanceRef") if isinstance(r.spec.get("instanceRef"), str) else None
        )
        if observed is None:
            _snapshot_condition(r, rsp, "no snapshot is taken until the spec is valid")
            resources.set_status(rsp, BackupRequestStatus(instance=instance_ref))
            return
        _instance_not_needed(rsp)
        _snapshot_condition(r, rsp)
        kept = {**observed, "metadata": resources.own_metadata(observed)}
        resources.set_status(rsp, backup_status(r, instance_ref, kept, observed))
        return
    assert spec is not None

    if observed is not None:
        body = frozen_snapshot(r, spec, observed, rsp)
        _instance_not_needed(rsp)
    else:
        target = refs.resolve(r, rsp, spec.instanceRef, None, kind=spec.instanceKind)
        if target.problem is not None:
            _pending(rsp, target.problem)
            resources.set_status(rsp, BackupRequestStatus(instance=spec.instanceRef))
            return
        assert target.instance is not None
        body = compose_snapshot(r, spec, target.instance)
        conditions.report_valid(rsp)
        rsp.conditions.append(
            conditions.condition(Type.INSTANCE_READY, True, Reason.INSTANCE_AVAILABLE)
        )

    resources.set_desired(rsp, SNAPSHOT, body, r.observed.ready(SNAPSHOT))
    _snapshot_condition(r, rsp)
    resources.set_status(rsp, backup_status(r, spec.instanceRef, body, observed))


def _snapshot_condition(r: Request, rsp: fnv1.RunFunctionResponse, waiting: str = "") -> None:
    ready = r.observed.ready(SNAPSHOT)
    message = waiting or f"RDS is taking snapshot {snapshot_identifier(r)}"
    rsp.conditions.append(
        conditions.condition(
            Type.SNAPSHOT_READY,
            ready,
            Reason.BACKUP_COMPLETED if ready else Reason.BACKUP_PENDING,
            "" if ready else message,
        )
    )


def _instance_not_needed(rsp: fnv1.RunFunctionResponse) -> None:
    """Once the snapshot exists the Backup no longer looks at its instance (it may be gone)."""
    rsp.conditions.append(
        conditions.condition(
            Type.INSTANCE_READY,
            None,
            Reason.INSTANCE_NOT_NEEDED,
            "the snapshot exists; this Backup no longer depends on its instance",
        )
    )


def _pending(rsp: fnv1.RunFunctionResponse, problem: Problem) -> None:
    """Waiting for the instance is not an error: a condition, and an event only when stuck. A
    refusal (an ambiguous name) is a problem of the spec."""
    rsp.conditions.append(
        conditions.condition(Type.INSTANCE_READY, False, problem.reason, problem.message)
    )
    rsp.conditions.append(
        conditions.condition(Type.SNAPSHOT_READY, False, Reason.BACKUP_PENDING, problem.message)
    )
    if problem.reason not in conditions.WAITING:
        conditions.report_problems(rsp, [problem])
        return
    conditions.report_valid(rsp)
    if problem.reason != Reason.INSTANCE_RESOLVING:
        conditions.warn(rsp, problem.reason, problem.message)


def compose_snapshot(r: Request, spec: BackupRequestSpec, inst: refs.Instance) -> dict:
    m = r.mode
    recorded = {
        annotation: _text(inst.status(key))
        for key, annotation in RECORDED.items()
        if inst.status(key) not in (None, "")
    }
    recorded[RECORDED["engine"]] = inst.engine
    fp = {
        "dbInstanceIdentifier": inst.status("identifier"),
        "region": inst.status("region") or r.input.aws.region,
        "tags": {
            **r.input.tags,
            naming.TAG_NAMESPACE: m.owner_namespace,
            naming.TAG_BACKUP: m.owner_name,
            naming.TAG_INSTANCE: spec.instanceRef,
        },
    }
    return {
        "apiVersion": m.api("rds", "v1beta1"),
        "kind": "Snapshot",
        "metadata": {
            "annotations": {
                naming.EXTERNAL_NAME: snapshot_identifier(r),
                INSTANCE_ANNOTATION: spec.instanceRef,
                **recorded,
            },
        },
        "spec": {
            "forProvider": {k: v for k, v in fp.items() if v},
            "providerConfigRef": m.aws_provider_config_ref(r.input.aws.providerConfigName),
            **_deletion(r, spec),
        },
    }


def _text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # protobuf Structs carry numbers as doubles
    return str(value)


def _deletion(r: Request, spec: BackupRequestSpec) -> dict:
    return r.mode.retain() if spec.deletionPolicy == "Retain" else {}


def frozen_snapshot(
    r: Request, spec: BackupRequestSpec, observed: dict, rsp: fnv1.RunFunctionResponse
) -> dict:
    """The snapshot as it was asked for; only what happens on deletion may still change."""
    was = dig(observed, "metadata", "annotations", INSTANCE_ANNOTATION, default="")
    if was and was != spec.instanceRef:
        message = (
            f"cannot back up {r.described()}: spec.instanceRef cannot change once the snapshot "
            f'exists (is "{was}", asked "{spec.instanceRef}"); allowed: "{was}", or a new Backup'
        )
        conditions.report_problems(
            rsp, [Problem("spec.instanceRef", Reason.IMMUTABLE_FIELD_CHANGED, message)]
        )
    else:
        conditions.report_valid(rsp)
    s = dig(observed, "spec", default={})
    kept = {k: v for k, v in s.items() if k not in ("deletionPolicy", "managementPolicies")}
    return {
        "apiVersion": observed.get("apiVersion"),
        "kind": observed.get("kind"),
        "metadata": resources.own_metadata(observed),
        "spec": {**kept, **_deletion(r, spec)},
    }


def backup_status(
    r: Request, instance_ref: str | None, body: dict, observed: dict | None
) -> BackupRequestStatus:
    at = dig(observed, "status", "atProvider", default={}) or {}
    recorded = dig(body, "metadata", "annotations", default={}) or {}
    storage = dig(recorded, RECORDED["allocatedStorage"], default="")
    return BackupRequestStatus.reported(
        phase=at.get("status"),
        instance=dig(body, "metadata", "annotations", INSTANCE_ANNOTATION) or instance_ref,
        instanceIdentifier=dig(body, "spec", "forProvider", "dbInstanceIdentifier"),
        snapshotIdentifier=snapshot_identifier(r),
        snapshotArn=at.get("dbSnapshotArn"),
        region=dig(body, "spec", "forProvider", "region"),
        engine=recorded.get(RECORDED["engine"]),
        engineVersion=at.get("engineVersion") or recorded.get(RECORDED["version"]),
        plan=recorded.get(RECORDED["plan"]),
        dbname=recorded.get(RECORDED["dbname"]),
        allocatedStorage=int(storage) if storage.isdigit() else None,
        creationTime=dig(observed, "metadata", "creationTimestamp"),
    )
