"""The one place that knows cluster mode (claims, *.aws.upbound.io) from namespaced mode (v2)."""

from __future__ import annotations

from dataclasses import dataclass

from function import engines, naming
from function.resources import dig


@dataclass(frozen=True)
class Mode:
    namespaced: bool
    # Who the developer sees: the claim in cluster mode, the XR itself in namespaced mode.
    owner_namespace: str
    owner_name: str
    # Where platform-side Secrets live (a namespaced MR can only reference its own namespace).
    secret_namespace: str

    @property
    def rds_api(self) -> str:
        return "rds.aws.m.upbound.io/v1beta1" if self.namespaced else "rds.aws.upbound.io/v1beta3"

    def api(self, group: str, version: str) -> str:
        """apiVersion of a managed resource of an upjet-AWS group such as "rds" or "backup"."""
        return f"{group}.aws.{'m.' if self.namespaced else ''}upbound.io/{version}"

    def sql_api(self, engine: str) -> str:
        group = engines.get(engine).sql_group
        return f"{group}.sql.{'m.' if self.namespaced else ''}crossplane.io/v1alpha1"

    @property
    def usage_api(self) -> str:
        """Crossplane's Usage: protection.crossplane.io from v2 (apiextensions' is deprecated
        there, and cluster-scoped: the only one a cluster-scoped composite can use)."""
        return (
            "protection.crossplane.io/v1beta1"
            if self.namespaced
            else "apiextensions.crossplane.io/v1beta1"
        )

    def secret_ref(self, name: str, key: str | None = None) -> dict:
        ref: dict = {"name": name}
        if key is not None:
            ref["key"] = key
        if not self.namespaced:
            ref["namespace"] = self.secret_namespace
        return ref

    def retain(self) -> dict:
        """Spec fields that keep the external resource when the managed resource is deleted."""
        if self.namespaced:
            # v2 managed resources have no deletionPolicy; leaving out Delete does the same.
            return {"managementPolicies": ["Observe", "Create", "Update", "LateInitialize"]}
        return {"deletionPolicy": "Orphan"}

    def aws_provider_config_ref(self, name: str) -> dict:
        if self.namespaced:
            return {"kind": "ClusterProviderConfig", "name": name}
        return {"name": name}

    def sql_provider_config_ref(self, name: str) -> dict:
        # Our per-instance SQL ProviderConfig is namespaced in v2 mode, beside the XR.
        if self.namespaced:
            return {"kind": "ProviderConfig", "name": name}
        return {"name": name}


def detect(composite: dict, platform_secret_namespace: str) -> Mode:
    namespace = dig(composite, "metadata", "namespace", default="")
    name = dig(composite, "metadata", "name", default="")
    if namespace:
        return Mode(True, namespace, name, namespace)
    return Mode(
        False,
        dig(composite, "metadata", "labels", naming.CLAIM_NAMESPACE, default=""),
        dig(composite, "metadata", "labels", naming.CLAIM_NAME, default="") or name,
        platform_secret_namespace,
    )
