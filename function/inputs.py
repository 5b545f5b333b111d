"""The platform's Input to the function (SPEC §3): one pydantic model, validated on every request.

The Input CRD under package/input/ is generated from these models (see generate.py).
"""

from __future__ import annotations

import functools
import re
import ssl
from typing import Literal

from google.protobuf import json_format, struct_pb2
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from function import catalog

API_VERSION = "rds.fn.anynines.com/v1beta1"
KIND = "Input"

Engine = Literal["postgresql", "mysql", "mariadb"]
Schedule = Literal["daily", "hourly", "none"]

WINDOW_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$"
VERSION_PATTERN = r"^[0-9]+(\.[0-9]+){1,2}$"
KMS_KEY_ARN_PATTERN = r"^arn:aws[a-z-]*:kms:[a-z]{2}(-[a-z]+)+-[0-9]:[0-9]{12}:key/[a-zA-Z0-9-]+$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Aws(_Strict):
    providerConfigName: str = Field(
        "default", min_length=1, description="Name of the AWS provider's ProviderConfig."
    )
    region: str = Field(
        "eu-central-1",
        pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]$",
        description="Region used when an instance does not set spec.config.region.",
    )


class Network(_Strict):
    dbSubnetGroupName: str | None = Field(
        None, description="DB subnet group every instance is placed in (private subnets)."
    )
    vpcSecurityGroupIds: list[str] = Field(
        default_factory=list, description="Security groups attached to every instance."
    )


class Safety(_Strict):
    deletionProtection: bool = Field(
        True, description="Set RDS deletion protection on every primary instance."
    )
    allowPublicAccess: bool = Field(
        False, description="Allow spec.config.publiclyAccessible: true. Off by default."
    )
    allowUnencrypted: bool = Field(
        False, description="Allow spec.config.encryptedStorage: false. Off by default."
    )


class BackupDefaults(_Strict):
    schedule: Schedule = Field("daily", description="Schedule when spec.backup.schedule is unset.")
    retentionDays: int = Field(
        7, ge=1, le=35, description="Retention when spec.backup.retentionDays is unset."
    )
    window: str | None = Field(
        None, pattern=WINDOW_PATTERN, description="Daily backup window, UTC, e.g. 03:00-04:00."
    )


class HourlyBackup(_Strict):
    iamRoleArn: str | None = Field(
        None,
        pattern=r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$",
        description="IAM role AWS Backup assumes; required for the hourly schedule.",
    )
    vaultName: str | None = Field(
        None,
        pattern=r"^[a-zA-Z0-9_.-]{2,50}$",
        description="Existing backup vault for hourly backups; default: one vault per instance.",
    )


class Backup(_Strict):
    defaults: BackupDefaults = Field(default_factory=BackupDefaults)
    hourly: HourlyBackup = Field(default_factory=HourlyBackup)


class PlanEntry(_Strict):
    instanceClass: str = Field(..., pattern=r"^db\.[a-z0-9]+\.[a-z0-9]+$")
    storageGiB: int = Field(..., ge=20, le=65536, description="Default and minimum storage, GiB.")
    maxStorageGiB: int = Field(..., ge=20, le=65536, description="Maximum (autoscaling), GiB.")
    multiAZ: bool = False
    replicas: int = Field(0, ge=0, le=15, description="Default number of read replicas.")
    maxReplicas: int = Field(0, ge=0, le=15, description="Most read replicas a user may ask for.")

    @model_validator(mode="after")
    def _bounds(self) -> PlanEntry:
        if self.storageGiB > self.maxStorageGiB:
            raise ValueError("storageGiB must not exceed maxStorageGiB")
        if self.replicas > self.maxReplicas:
            raise ValueError("replicas must not exceed maxReplicas")
        return self


class VersionEntry(_Strict):
    version: str = Field(..., pattern=VERSION_PATTERN)
    majorUpgradeFrom: list[str] = Field(
        default_factory=list,
        description="Majors an existing database may be upgraded from to this version.",
    )


class CatalogInput(_Strict):
    mode: Literal["extend", "replace"] = Field(
        "extend",
        description="extend: merge over the built-in catalog; replace: use only these entries.",
    )
    plans: dict[str, PlanEntry] = Field(default_factory=dict)
    versions: dict[Engine, list[VersionEntry]] = Field(default_factory=dict)


RDS_CA_BUNDLE_URL = "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"


class Tls(_Strict):
    caBundle: str | None = Field(
        None,
        description=(
            "PEM certificates that sign the databases' server certificates, given to apps in "
            f"each binding Secret so they verify the server; usually AWS's {RDS_CA_BUNDLE_URL}. "
            "Unset: apps encrypt without verifying (sslmode require)."
        ),
    )

    @field_validator("caBundle")
    @classmethod
    def _pem(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if "-----BEGIN CERTIFICATE-----" not in v:
            raise ValueError("must hold PEM certificates (-----BEGIN CERTIFICATE-----)")
        try:
            ssl.create_default_context(cadata=v)
        except (ssl.SSLError, ValueError):
            raise ValueError("holds a certificate block that is no readable certificate") from None
        return v


class Input(_Strict):
    """Platform configuration of function-rds, given as the Composition step's input."""

    apiVersion: Literal["rds.fn.anynines.com/v1beta1"] = API_VERSION
    kind: Literal["Input"] = KIND
    metadata: dict | None = None
    aws: Aws = Field(default_factory=Aws)
    network: Network = Field(default_factory=Network)
    # AWS reports the key's ARN: an id or an alias here would be a permanent diff on a ForceNew
    # field, and the provider would then refuse every later update of the instance.
    kmsKeyId: str | None = Field(
        None,
        json_schema_extra={"pattern": KMS_KEY_ARN_PATTERN},
        description="KMS key ARN (arn:aws:kms:<region>:<account>:key/<key id>; not a key id or "
        "alias) for storage encryption; default: the AWS RDS key.",
    )
    secretNamespace: str = Field(
        "crossplane-system",
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        description="Namespace of platform-side Secrets (master passwords) in cluster mode.",
    )
    sqlSslMode: Literal["disable", "require"] = Field(
        "require",
        description=(
            "TLS mode the SQL provider uses to reach each instance (require: encrypted). "
            "verify-ca/verify-full are refused: provider-sql's PostgreSQL ProviderConfig has no CA "
            "setting, so they could never verify an RDS certificate."
        ),
    )
    applyImmediately: bool = Field(
        True, description="Apply changes now instead of in the next maintenance window."
    )
    safety: Safety = Field(default_factory=Safety)
    tls: Tls = Field(default_factory=Tls)
    backup: Backup = Field(default_factory=Backup)
    tags: dict[str, str] = Field(default_factory=dict, description="Extra tags on every resource.")
    catalog: CatalogInput = Field(default_factory=CatalogInput)

    @field_validator("kmsKeyId")
    @classmethod
    def _kms_key_arn(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(KMS_KEY_ARN_PATTERN, value):
            raise ValueError(
                "must be the arn of a kms key, arn:aws:kms:<region>:<account>:key/<key id> (aws "
                "reports the arn: a key id or an alias would lock every instance it encrypts)"
            )
        return value

    @field_validator("sqlSslMode", mode="before")
    @classmethod
    def _verifiable(cls, v: object) -> object:
        if v in ("verify-ca", "verify-full"):
            raise ValueError(
                f"{v} cannot verify RDS certificates: provider-sql's PostgreSQL ProviderConfig "
                "has no CA setting (MySQL's would check system roots); allowed: 'require' or "
                "'disable' (apps verify with tls.caBundle)"
            )
        return v


@functools.lru_cache(maxsize=64)
def parse(raw: bytes) -> tuple[Input, catalog.Catalog]:
    """Parse and validate a serialized Input Struct; cached because the Input rarely changes."""
    struct = struct_pb2.Struct()
    struct.ParseFromString(raw)
    parsed = Input.model_validate(json_format.MessageToDict(struct))
    return parsed, _merge_catalog(parsed.catalog)


def _merge_catalog(c: CatalogInput) -> catalog.Catalog:
    plans = {} if c.mode == "replace" else dict(catalog.DEFAULT_PLANS)
    plans.update({n: p.model_dump() for n, p in c.plans.items()})
    versions = (
        {} if c.mode == "replace" else {e: list(v) for e, v in catalog.DEFAULT_VERSIONS.items()}
    )
    for engine, entries in c.versions.items():
        given = {e.version for e in entries}
        kept = [v for v in versions.get(engine, []) if v["version"] not in given]
        versions[engine] = kept + [e.model_dump() for e in entries]
    return catalog.build(plans, versions)


def describe_errors(err: ValidationError, prefix: str) -> list[str]:
    """One message per pydantic error: the field path, what was wrong, and the value given."""
    out = []
    for e in err.errors(include_url=False):
        path = ".".join([prefix, *(str(p) for p in e["loc"])]) if e["loc"] else prefix
        value = e.get("input")
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # protobuf Structs carry every number as a double
        if isinstance(value, str) and len(value) > 80:
            value = value[:60] + "..."  # e.g. a CA bundle: enough to recognise, not a page
        shown = f" (got {value!r})" if isinstance(value, str | int | float | bool) else ""
        out.append(f"{path}: {e['msg'].lower()}{shown}")
    return out
