"""The built-in catalog of plans and versions (SPEC §3), and lookups in it.

The platform replaces or extends this catalog through the Composition's Input (see inputs.py);
everything here is plain data so that the Input can be merged over it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

_SIZES = {
    # size: (instanceClass, storage min GiB, storage max GiB)
    "nano": ("db.t4g.micro", 20, 100),
    "small": ("db.t4g.medium", 50, 500),
    "medium": ("db.m7g.large", 100, 1000),
    "large": ("db.m7g.xlarge", 200, 2000),
}


def _default_plans() -> dict[str, dict]:
    plans: dict[str, dict] = {}
    for size, (instance_class, smin, smax) in _SIZES.items():
        plans[f"single-{size}"] = {
            "instanceClass": instance_class,
            "storageGiB": smin,
            "maxStorageGiB": smax,
            "multiAZ": False,
            "replicas": 0,
            "maxReplicas": 0,
        }
        plans[f"cluster-{size}"] = {
            "instanceClass": instance_class,
            "storageGiB": smin,
            "maxStorageGiB": smax,
            "multiAZ": True,
            "replicas": 1,
            "maxReplicas": 5,
        }
    return plans


DEFAULT_PLANS = _default_plans()

# Minor versions RDS offers, per engine. `majorUpgradeFrom` lists the majors an existing database
# may be upgraded from to this version (RDS supports these direct major upgrades).
DEFAULT_VERSIONS: dict[str, list[dict]] = {
    "postgresql": [
        {"version": "13.20"},
        {"version": "13.21"},
        {"version": "14.17", "majorUpgradeFrom": ["13"]},
        {"version": "14.18", "majorUpgradeFrom": ["13"]},
        {"version": "15.12", "majorUpgradeFrom": ["13", "14"]},
        {"version": "15.13", "majorUpgradeFrom": ["13", "14"]},
        {"version": "16.5", "majorUpgradeFrom": ["13", "14", "15"]},
        {"version": "16.8", "majorUpgradeFrom": ["13", "14", "15"]},
        {"version": "16.9", "majorUpgradeFrom": ["13", "14", "15"]},
        {"version": "17.4", "majorUpgradeFrom": ["13", "14", "15", "16"]},
        {"version": "17.5", "majorUpgradeFrom": ["13", "14", "15", "16"]},
    ],
    "mysql": [
        {"version": "8.0.40"},
        {"version": "8.0.41"},
        {"version": "8.0.42"},
        {"version": "8.4.4", "majorUpgradeFrom": ["8.0"]},
        {"version": "8.4.5", "majorUpgradeFrom": ["8.0"]},
    ],
    "mariadb": [
        {"version": "10.6.20"},
        {"version": "10.6.21"},
        {"version": "10.11.10", "majorUpgradeFrom": ["10.6"]},
        {"version": "10.11.11", "majorUpgradeFrom": ["10.6"]},
        {"version": "11.4.4", "majorUpgradeFrom": ["10.6", "10.11"]},
        {"version": "11.4.5", "majorUpgradeFrom": ["10.6", "10.11"]},
    ],
}


@dataclass(frozen=True)
class Plan:
    name: str
    instanceClass: str
    storageGiB: int
    maxStorageGiB: int
    multiAZ: bool
    replicas: int
    maxReplicas: int


@dataclass(frozen=True)
class Version:
    version: str
    majorUpgradeFrom: tuple[str, ...] = ()


def version_key(version: str) -> tuple[int, ...]:
    """Numeric sort key of a dotted version; non-numeric parts sort as 0."""
    return tuple(int(p) if p.isdigit() else 0 for p in version.split("."))


@dataclass(frozen=True)
class Catalog:
    plans: dict[str, Plan]
    versions: dict[str, dict[str, Version]]
    # parameters.Catalog and extensions' allow list, merged from the Input (see inputs.parse).
    parameters: dict = field(default_factory=dict)
    extensions: dict = field(default_factory=dict)

    def plan(self, name: str) -> Plan | None:
        return self.plans.get(name)

    def version(self, engine: str, version: str) -> Version | None:
        return self.versions.get(engine, {}).get(version)

    def plan_names(self) -> list[str]:
        return sorted(self.plans)

    def version_names(self, engine: str) -> list[str]:
        return sorted(self.versions.get(engine, {}), key=version_key)


def build(plans: dict[str, dict], versions: dict[str, list[dict]]) -> Catalog:
    return Catalog(
        plans={name: Plan(name=name, **p) for name, p in plans.items()},
        versions={
            engine: {
                v["version"]: Version(v["version"], tuple(v.get("majorUpgradeFrom", ())))
                for v in entries
            }
            for engine, entries in versions.items()
        },
    )
