"""The platform's Input to the function (SPEC §3): one pydantic model, validated on every request.

The Input CRD under package/input/ is generated from these models (see generate.py).
"""

from __future__ import annotations

import dataclasses
import functools
import re
import ssl
import unicodedata
from typing import Any, Final, Literal

from google.protobuf import json_format, struct_pb2
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from function import catalog, engines, extensions, naming, parameters
from function.extensions import ExtensionCatalog
from function.parameters import ParameterCatalog

API_VERSION: Final = "rds.fn.anynines.com/v1beta1"
KIND: Final = "Input"

Engine = engines.Name
Schedule = Literal["daily", "hourly", "none"]

WINDOW_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$"
VERSION_PATTERN = r"^[0-9]+(\.[0-9]+){1,2}$"
KMS_KEY_ARN_PATTERN = r"^arn:aws[a-z-]*:kms:[a-z]{2}(-[a-z]+)+-[0-9]:[0-9]{12}:key/[a-zA-Z0-9-]+$"

# The plan names a spec can ask for (specs.py and the XRDs use the same pattern).
PLAN_PATTERN = r"^[a-z0-9][a-z0-9-]*$"
PLAN_MAX_LENGTH = 63
VERSION_MAX_LENGTH = 16
MIN_WINDOW_MINUTES = 30
RDS_MAX_STORAGE_GIB = 65536  # RDS's largest gp3 volume

# AWS tag limits (the same for RDS, snapshots and AWS Backup).
MAX_TAGS = 50
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
_TAG_PUNCTUATION = set("_.:/=+-@")
# The tags the function itself puts on a resource: klutch.io/namespace, name, plan, engine and, on
# replicas, role (a snapshot carries three). Counted against AWS's 50 before anyone else's.
OWN_TAGS = 5
# The tags the AWS provider adds to every resource it tags: upjet's TagInitializer writes
# crossplane-kind, crossplane-name and crossplane-providerconfig into spec.forProvider.tags
# (provider-upjet-aws config/overrides.go AddExternalTagsField, on unless the provider runs with
# --skip-default-tags; the room is kept either way), and AWS counts them too.
PROVIDER_TAGS = 3
# What is left of AWS's 50 for the platform's and the developer's tags together.
FREE_TAGS = MAX_TAGS - OWN_TAGS - PROVIDER_TAGS


def whole_numbers(data: Any) -> Any:
    """A mapping's whole-number floats as ints: protobuf Structs carry every number as a double,
    and the models are strict (a string is never taken for a number)."""
    if isinstance(data, dict):
        return {
            k: int(v) if isinstance(v, float) and v.is_integer() else v for k, v in data.items()
        }
    return data


class StrictModel(BaseModel):
    # strict: "100" is not a number and "true" not a boolean; a typo is an error, not ignored.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    @model_validator(mode="before")
    @classmethod
    def _numbers(cls, data: Any) -> Any:
        return whole_numbers(data)


class Aws(StrictModel):
    providerConfigName: str = Field(
        "default", min_length=1, description="Name of the AWS provider's ProviderConfig."
    )
    region: str = Field(
        "eu-central-1",
        pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]$",
        description="Region used when an instance does not set spec.config.region.",
    )


class Network(StrictModel):
    dbSubnetGroupName: str | None = Field(
        None, description="DB subnet group every instance is placed in (private subnets)."
    )
    vpcSecurityGroupIds: list[str] = Field(
        default_factory=list, description="Security groups attached to every instance."
    )


class Safety(StrictModel):
    deletionProtection: bool = Field(
        True, description="Set RDS deletion protection on every primary instance."
    )
    allowPublicAccess: bool = Field(
        False, description="Allow spec.config.publiclyAccessible: true. Off by default."
    )
    allowUnencrypted: bool = Field(
        False, description="Allow spec.config.encryptedStorage: false. Off by default."
    )
    allowPlaintext: bool = Field(
        False,
        description="Let servers accept connections without TLS (no rds.force_ssl / "
        "require_secure_transport in parameter groups). Off by default; developers cannot.",
    )


class BackupDefaults(StrictModel):
    schedule: Schedule = Field("daily", description="Schedule when spec.backup.schedule is unset.")
    retentionDays: int = Field(
        7, ge=1, le=35, description="Retention when spec.backup.retentionDays is unset."
    )
    window: str | None = Field(
        None,
        pattern=WINDOW_PATTERN,
        description="Daily backup window, UTC, e.g. 03:00-04:00; at least 30 minutes.",
    )

    @field_validator("window")
    @classmethod
    def _window(cls, window: str | None) -> str | None:
        if window and window_minutes(window) < MIN_WINDOW_MINUTES:
            raise PydanticCustomError(
                "window_too_short",
                'window "{window}" is shorter than 30 minutes: RDS refuses it for every instance '
                "that keeps the default; allowed: a UTC window of at least 30 minutes such as "
                '"03:00-04:00"',
                {"window": window},
            )
        return window


def window_minutes(window: str) -> int:
    """Length of a HH:MM-HH:MM window in minutes (it may span midnight)."""
    start, end = window.split("-")
    a = int(start[:2]) * 60 + int(start[3:])
    b = int(end[:2]) * 60 + int(end[3:])
    return (b - a) % (24 * 60)


class HourlyBackup(StrictModel):
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


class Backup(StrictModel):
    defaults: BackupDefaults = Field(default_factory=BackupDefaults)
    hourly: HourlyBackup = Field(default_factory=HourlyBackup)

    @model_validator(mode="after")
    def _hourly_default(self) -> Backup:
        # A default no developer could satisfy is the platform's error, not every developer's.
        if self.defaults.schedule == "hourly" and not self.hourly.iamRoleArn:
            raise PydanticCustomError(
                "hourly_without_role",
                'defaults.schedule "hourly" needs hourly.iamRoleArn (AWS Backup), so every '
                "instance without its own schedule would be refused; allowed: set "
                'hourly.iamRoleArn, or defaults.schedule "daily" or "none"',
            )
        return self


class PlanEntry(StrictModel):
    instanceClass: str = Field(..., pattern=r"^db\.[a-z0-9]+\.[a-z0-9]+$")
    storageGiB: int = Field(
        ..., ge=20, le=RDS_MAX_STORAGE_GIB, description="Default and minimum storage, GiB."
    )
    maxStorageGiB: int = Field(
        ..., ge=20, le=RDS_MAX_STORAGE_GIB, description="Maximum (autoscaling), GiB."
    )
    multiAZ: bool = False
    replicas: int = Field(0, ge=0, le=15, description="Default number of read replicas.")
    maxReplicas: int = Field(0, ge=0, le=15, description="Most read replicas a user may ask for.")

    @model_validator(mode="after")
    def _bounds(self) -> PlanEntry:
        if self.storageGiB > self.maxStorageGiB:
            raise PydanticCustomError(
                "plan_bounds",
                "storageGiB {storage} exceeds maxStorageGiB {max}; allowed: storageGiB <= "
                "maxStorageGiB",
                {"storage": self.storageGiB, "max": self.maxStorageGiB},
            )
        if self.replicas > self.maxReplicas:
            raise PydanticCustomError(
                "plan_bounds",
                "replicas {replicas} exceeds maxReplicas {max}; allowed: replicas <= maxReplicas",
                {"replicas": self.replicas, "max": self.maxReplicas},
            )
        return self


class VersionEntry(StrictModel):
    version: str = Field(..., pattern=VERSION_PATTERN, max_length=VERSION_MAX_LENGTH)
    majorUpgradeFrom: list[str] = Field(
        default_factory=list,
        description="Majors an existing database may be upgraded from to this version.",
    )


class CatalogInput(StrictModel):
    mode: Literal["extend", "replace"] = Field(
        "extend",
        description="extend: merge over the built-in catalog; replace: use only these entries.",
    )
    plans: dict[str, PlanEntry] = Field(default_factory=dict)
    versions: dict[Engine, list[VersionEntry]] = Field(default_factory=dict)
    parameters: ParameterCatalog = Field(
        default_factory=ParameterCatalog,
        description="Parameters developers may set, per engine (built-in list: README).",
    )
    extensions: ExtensionCatalog = Field(
        default_factory=ExtensionCatalog,
        description="PostgreSQL extensions developers may create (built-in list: README).",
    )

    @field_validator("plans")
    @classmethod
    def _plan_names(cls, plans: dict[str, PlanEntry]) -> dict[str, PlanEntry]:
        # A plan name no spec can carry (the XRDs' pattern) could never be chosen.
        for name in plans:
            if len(name) > PLAN_MAX_LENGTH or not re.match(PLAN_PATTERN, name):
                raise PydanticCustomError(
                    "plan_name",
                    'plan name "{name}" can never be asked for in spec.plan; allowed: 1..63 '
                    "lower-case letters, digits and '-', starting with a letter or digit",
                    {"name": name},
                )
        return plans

    @field_validator("versions")
    @classmethod
    def _unique_versions(
        cls, versions: dict[str, list[VersionEntry]]
    ) -> dict[str, list[VersionEntry]]:
        for engine, entries in versions.items():
            seen: set[str] = set()
            for e in entries:
                if e.version in seen:
                    raise PydanticCustomError(
                        "duplicate_version",
                        '{engine} lists "{version}" twice; allowed: each version once',
                        {"engine": engine, "version": e.version},
                    )
                seen.add(e.version)
        return versions

    @model_validator(mode="after")
    def _not_empty(self) -> CatalogInput:
        for what, given in (("plans", self.plans), ("versions", any(self.versions.values()))):
            if self.mode == "replace" and not given:
                raise PydanticCustomError(
                    "empty_catalog",
                    'mode "replace" with no {what} leaves developers nothing to ask for; '
                    'allowed: at least one entry in {what}, or mode "extend"',
                    {"what": what},
                )
        return self


RDS_CA_BUNDLE_URL = "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"


class Tls(StrictModel):
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


class Input(StrictModel):
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
    tags: dict[str, str] = Field(
        default_factory=dict,
        description="Extra tags on every resource (AWS limits; at most 42: the function adds up "
        "to 5 klutch.io/ tags and the AWS provider 3 crossplane-* tags).",
    )
    catalog: CatalogInput = Field(default_factory=CatalogInput)

    @field_validator("kmsKeyId")
    @classmethod
    def _kms_key_arn(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(KMS_KEY_ARN_PATTERN, value):
            raise ValueError(
                "must be the ARN of a KMS key, arn:aws:kms:<region>:<account>:key/<key id> (AWS "
                "reports the ARN: a key id or an alias would lock every instance it encrypts)"
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

    @model_validator(mode="after")
    def _sql_reaches_tls_only_servers(self) -> Input:
        # Parameter groups make every server refuse plaintext unless the platform allows it.
        if self.sqlSslMode == "disable" and not self.safety.allowPlaintext:
            raise PydanticCustomError(
                "plaintext_refused",
                "sqlSslMode disable cannot reach servers that refuse plaintext (rds.force_ssl, "
                "require_secure_transport); allowed: 'require', or safety.allowPlaintext true",
            )
        return self

    @field_validator("tags")
    @classmethod
    def _aws_tags(cls, tags: dict[str, str]) -> dict[str, str]:
        problems = tag_problems(tags, FREE_TAGS)
        if problems:
            # PydanticCustomError formats {…}: pass the text as a value, never as the template.
            raise PydanticCustomError("aws_tags", "{problems}", {"problems": "; ".join(problems)})
        return tags


@functools.lru_cache(maxsize=4096)  # the same few tags are checked on every request
def _tag_text_ok(text: str) -> bool:
    # AWS: ^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$ (letters, separators, numbers of any script).
    return all(c in _TAG_PUNCTUATION or unicodedata.category(c)[0] in "LZN" for c in text)


_TAG_CHARACTERS = "letters, digits, spaces and _ . : / = + - @"


def tag_problems(tags: dict[str, str], limit: int) -> list[str]:
    """What AWS would refuse in these tags (more than `limit`, key 1..128 and value <= 256 of its
    characters, keys starting aws: or klutch.io/), one sentence each naming the key."""
    out = []
    if len(tags) > limit:
        out.append(f"has {len(tags)} tags; allowed: at most {limit}")
    for key in sorted(tags):
        value = tags[key]
        if not key or len(key) > MAX_TAG_KEY or not _tag_text_ok(key):
            out.append(
                f'key "{key}" is not an AWS tag key; allowed: 1..{MAX_TAG_KEY} {_TAG_CHARACTERS}'
            )
        elif key.lower().startswith("aws:") or key.startswith(naming.OWN_PREFIX):
            out.append(
                f'key "{key}" is reserved; allowed: keys not starting with "aws:" or '
                f'"{naming.OWN_PREFIX}"'
            )
        if len(value) > MAX_TAG_VALUE or not _tag_text_ok(value):
            out.append(
                f'"{key}" value "{value}" is not an AWS tag value; allowed: '
                f"0..{MAX_TAG_VALUE} {_TAG_CHARACTERS}"
            )
    return out


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
    built = catalog.build(plans, versions)
    return dataclasses.replace(
        built, parameters=parameters.merge(c.parameters), extensions=extensions.merge(c.extensions)
    )


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
        # Only the first letter: the rest may quote what the developer must type ('readWrite').
        msg = e["msg"][:1].lower() + e["msg"][1:]
        scalar = isinstance(value, str | int | float | bool)
        shown = f" (got {value!r})" if scalar and f'"{value}"' not in msg else ""
        out.append(f"{path}: {msg}{shown}")
    return out
