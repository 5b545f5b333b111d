"""What the AWS provider asks of the RDS API for a composed ParameterGroup, as botocore calls.

Terraform's aws_db_parameter_group (which upjet wraps) creates the group with
CreateDBParameterGroup (name = the external name, family, description, tags), then sets the
parameters with ModifyDBParameterGroup, at most 20 per call (the API's limit). On update it sends
the changed and added parameters the same way and resets the removed ones with
ResetDBParameterGroup.
"""

from __future__ import annotations

from botocore import xform_name

from tests.aws import validated

CHUNK = 20  # ModifyDBParameterGroup / ResetDBParameterGroup take at most 20 parameters
FOR_PROVIDER = {"region", "family", "description", "parameter", "tags"}


def _name(body: dict) -> str:
    return body["metadata"]["annotations"]["crossplane.io/external-name"]


def _parameters(entries: list[dict]) -> list[dict]:
    return [
        {"ParameterName": p["name"], "ParameterValue": p["value"], "ApplyMethod": p["applyMethod"]}
        for p in entries
    ]


def _chunks(operation: str, name: str, parameters: list[dict]) -> list[tuple[str, dict]]:
    return [
        (
            operation,
            validated(
                operation,
                {"DBParameterGroupName": name, "Parameters": parameters[i : i + CHUNK]},
            ),
        )
        for i in range(0, len(parameters), CHUNK)
    ]


def create_calls(body: dict) -> list[tuple[str, dict]]:
    fp = body["spec"]["forProvider"]
    unknown = set(fp) - FOR_PROVIDER
    assert not unknown, f"forProvider fields without an RDS mapping: {unknown}"
    create = validated(
        "CreateDBParameterGroup",
        {
            "DBParameterGroupName": _name(body),
            "DBParameterGroupFamily": fp["family"],
            "Description": fp["description"],
            "Tags": [{"Key": k, "Value": v} for k, v in sorted(fp.get("tags", {}).items())],
        },
    )
    calls = [("CreateDBParameterGroup", create)]
    return calls + _chunks("ModifyDBParameterGroup", _name(body), _parameters(fp["parameter"]))


def update_calls(old: dict, new: dict) -> list[tuple[str, dict]]:
    """The calls for a changed parameter list (family and name cannot change: a new group)."""
    assert old["spec"]["forProvider"]["family"] == new["spec"]["forProvider"]["family"]
    before = {p["name"]: p for p in old["spec"]["forProvider"]["parameter"]}
    after = {p["name"]: p for p in new["spec"]["forProvider"]["parameter"]}
    changed = [p for n, p in sorted(after.items()) if before.get(n) != p]
    removed = [p for n, p in sorted(before.items()) if n not in after]
    name = _name(new)
    return _chunks("ModifyDBParameterGroup", name, _parameters(changed)) + _chunks(
        "ResetDBParameterGroup", name, _parameters(removed)
    )


def run(client, calls: list[tuple[str, dict]]) -> None:
    """Make the calls on a boto3 RDS client (moto in the tests)."""
    for operation, params in calls:
        getattr(client, xform_name(operation))(**params)


def provide(client, composed: dict[str, dict]) -> None:
    """Create the composed ParameterGroups AWS does not have yet, as the provider would before the
    instance that names one can be created or modified."""
    existing = {
        g["DBParameterGroupName"]
        for g in client.describe_db_parameter_groups()["DBParameterGroups"]
    }
    for body in composed.values():
        if body.get("kind") == "ParameterGroup" and _name(body) not in existing:
            run(client, create_calls(body))
