"""Names: our API, the annotation, label and tag keys we and Crossplane use, and the deterministic
names of what the function creates (RDS identifiers, Secrets, snapshots)."""

from __future__ import annotations

import functools
import hashlib
import re

# The API developers use (the XRDs' group and version).
GROUP = "rds.aws.anynines.com"
VERSION = "v1"
API_VERSION = f"{GROUP}/{VERSION}"

# Crossplane's keys.
EXTERNAL_NAME = "crossplane.io/external-name"
CLAIM_NAME = "crossplane.io/claim-name"
CLAIM_NAMESPACE = "crossplane.io/claim-namespace"
COMPOSITE = "crossplane.io/composite"
COMPOSITION_RESOURCE_NAME = "crossplane.io/composition-resource-name"

# Ours: tags on AWS resources and annotations and labels on composed resources. Tags and
# annotations read back later say what a resource was made for, whatever the spec says now.
OWN_PREFIX = "klutch.io/"
TAG_NAMESPACE = "klutch.io/namespace"
TAG_NAME = "klutch.io/name"
TAG_PLAN = "klutch.io/plan"
TAG_ENGINE = "klutch.io/engine"
TAG_ROLE = "klutch.io/role"
TAG_BACKUP = "klutch.io/backup"
TAG_INSTANCE = "klutch.io/instance"
ANNOTATION_INSTANCE = "klutch.io/instance"
ANNOTATION_RESTORE_SOURCE = "klutch.io/restore-source"
# On the composed primary Instance: the static parameters waiting for a reboot, each with the
# value the server ran before (null: RDS's default), and what the instance looked like then. The
# function owns the annotation (it is re-sent on every path), so it survives the reconciles after
# the group was updated, when the group no longer shows what changed.
ANNOTATION_PENDING_REBOOT = "klutch.io/pending-reboot"
# On the composed primary Instance: the spec.serviceVersion AWS upgraded the instance past on its
# own (a required minor upgrade), so that this version, still in the spec, is not taken for a
# downgrade the developer asked for.
ANNOTATION_UPGRADED_BY_AWS = "klutch.io/upgraded-by-aws-from"
# On the composite: the platform changes its value after a reboot the function could not see.
ANNOTATION_REBOOTED = "klutch.io/rebooted"
LABEL_BINDING = "klutch.io/binding"
# On every Extension of an instance (its identifier): the function requires them by this label,
# so it still sees those Crossplane deletes.
LABEL_EXTENSIONS_OF = "klutch.io/extensions-of"
# On a Backup's Snapshot, what a Restore needs to know of the source when it was taken.
ANNOTATION_ENGINE_VERSION = "klutch.io/engine-version"
ANNOTATION_DBNAME = "klutch.io/dbname"
ANNOTATION_ALLOCATED_STORAGE = "klutch.io/allocated-storage"

RDS_ID_MAX = 63  # DB instance identifier limit
K8S_NAME_MAX = 253  # a Kubernetes object's name (a DNS subdomain), such as a Secret's
_HASH = 6


def digest(*parts: str, length: int = _HASH) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:length]


# Every request names its objects again; names are pure functions of a few short strings.
@functools.lru_cache(maxsize=4096)
def rds_identifier(namespace: str, name: str, *salt: str, limit: int = RDS_ID_MAX) -> str:
    """An RDS-valid identifier (letter first, [a-z0-9-], no "--", no trailing "-") for ns/name.

    The hash of the exact namespace and name keeps "a-b"/"c" and "a"/"b-c" apart.
    """
    base = f"{namespace}-{name}" if namespace else name
    clean = re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", base.lower())).strip("-")
    if not clean or not clean[0].isalpha():
        clean = f"db-{clean}".rstrip("-")
    suffix = digest(namespace, name, *salt)
    head = clean[: limit - len(suffix) - 1].rstrip("-")
    return f"{head}-{suffix}"


def replica_identifier(identifier: str, index: int) -> str:
    """The identifier of read replica `index` of the primary `identifier`, at most 63 characters.

    Short identifiers keep the plain `<identifier>-r<index>` (replicas that exist keep their name);
    a long one drops characters of its readable head, never of its hash, so it stays distinct.
    """
    suffix = f"-r{index}"
    plain = f"{identifier}{suffix}"
    if len(plain) <= RDS_ID_MAX:
        return plain
    head, _, digest_part = identifier.rpartition("-")
    head = head[: RDS_ID_MAX - len(suffix) - len(digest_part) - 1].rstrip("-")
    return f"{head}-{digest_part}{suffix}"


def final_snapshot_identifier(identifier: str, uid: str) -> str:
    """Unique per composite: a database re-created under the same name gets a new final snapshot."""
    return f"{identifier}-final-{digest(uid, length=8)}"


def master_password_secret(identifier: str) -> str:
    """The Secret the AWS provider writes the instance's generated master password into."""
    return f"{identifier}-master"


def connection_secret(identifier: str) -> str:
    """The Secret the AWS provider publishes the instance's connection details in."""
    return f"{identifier}-conn"


def sql_provider_config(identifier: str) -> str:
    """The SQL provider's ProviderConfig of an instance (bindings find it in its status)."""
    return identifier
