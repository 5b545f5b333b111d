"""Shipping: both packages' metadata, the Configuration's contents and dependencies, the
compositions generated from a platform file (the command and its errors), and the docs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from function import conditions, generate, inputs, kinds, xrds
from tests import crds
from tests.helpers import EXAMPLE_INPUT, ROOT, load_yaml

FUNCTION_META = ROOT / "package" / "crossplane.yaml"
CONFIGURATION_META = ROOT / "package-configuration" / "crossplane.yaml"


@pytest.mark.parametrize("kind", kinds.KINDS, ids=lambda k: k.claim)
def test_cluster_compositions_write_claim_secrets_to_the_platform_namespace(kind):
    platform = {**EXAMPLE_INPUT, "secretNamespace": "platform-secrets"}
    cluster = xrds.composition(kind, platform)
    assert cluster["spec"]["writeConnectionSecretsToNamespace"] == "platform-secrets"
    # v2 namespaced XRs have no connection Secret of their own: nothing to write there.
    assert "writeConnectionSecretsToNamespace" not in xrds.composition(kind, platform, True)["spec"]


def test_shipped_cluster_compositions_name_the_secret_namespace():
    for path in sorted((ROOT / "compositions").glob("x*.yaml")):
        (doc,) = load_yaml(path)
        assert doc["spec"]["writeConnectionSecretsToNamespace"] == "crossplane-system", path.name


def test_the_platform_input_default_secret_namespace_is_used_when_unset():
    platform = {k: v for k, v in EXAMPLE_INPUT.items() if k != "secretNamespace"}
    spec = xrds.composition(kinds.KINDS[0], platform)["spec"]
    assert spec["writeConnectionSecretsToNamespace"] == "crossplane-system"


@pytest.mark.parametrize("path", [FUNCTION_META, CONFIGURATION_META], ids=["function", "config"])
def test_package_needs_crossplane_v2(path):
    # Required resources and protection.crossplane.io Usages exist from Crossplane v2.0 only.
    (meta,) = load_yaml(path)
    assert meta["spec"]["crossplane"]["version"] == ">=v2.0.0"


def test_readme_states_the_crossplane_floor():
    text = (ROOT / "README.md").read_text()
    assert "Crossplane v2.0 or later" in text
    assert "v1.17" not in text


def _dependency_problems(dep: dict) -> list[str]:
    """Crossplane's rule (apis/pkg/meta/v1): exactly one way to name the package."""
    modern = all(k in dep for k in ("apiVersion", "kind", "package"))
    legacy = [k for k in ("provider", "configuration", "function") if k in dep]
    if modern == bool(legacy) or len(legacy) > 1:
        return [f"{dep}: name the package once (apiVersion, kind and package)"]
    return []


@pytest.mark.parametrize("path", [FUNCTION_META, CONFIGURATION_META], ids=["function", "config"])
def test_package_metadata_validates_against_crossplane_meta_schema(path):
    (meta,) = load_yaml(path)
    crds.validate(meta)
    for dep in meta["spec"].get("dependsOn", []):
        assert _dependency_problems(dep) == []


def _version(text: str) -> tuple[int, int, int]:
    major, minor, patch = (int(p) for p in text.lstrip("v").split("."))
    return major, minor, patch


def _admits(constraint: str, version: str) -> bool:
    """Crossplane's semver constraints as this repository writes them: ">=vA, <vB"."""
    ops = {">=": lambda a, b: a >= b, "<": lambda a, b: a < b}
    for part in constraint.split(","):
        op, bound = re.fullmatch(r"\s*(>=|<)\s*(v[0-9.]+)\s*", part).groups()
        if not ops[op](_version(version), _version(bound)):
            return False
    return True


def _vendored(section: str) -> str:
    """The released version the vendored CRDs of a provider were built from (SOURCES.md)."""
    text = (ROOT / "tests" / "crds" / "SOURCES.md").read_text()
    block = text.split(f"## {section}/", 1)[1]
    return re.search(r"`(?:apis/)?(v[0-9]+\.[0-9]+\.[0-9]+)-[0-9]+-g", block).group(1)


# (package suffix, SOURCES.md section, versions it must refuse)
DEPENDENCIES = [
    ("crossplane-contrib/provider-aws-rds", "aws", ["v1.23.0", "v3.0.0"]),
    ("crossplane-contrib/provider-aws-backup", "aws", ["v1.23.0", "v3.0.0"]),
    ("crossplane-contrib/provider-sql", "sql", ["v0.15.0", "v0.17.0"]),
]


@pytest.mark.parametrize("case", DEPENDENCIES, ids=[c[0] for c in DEPENDENCIES])
def test_configuration_dependency_matches_the_vendored_crds(case):
    package, section, refused = case
    (meta,) = load_yaml(CONFIGURATION_META)
    (dep,) = [d for d in meta["spec"]["dependsOn"] if d["package"].endswith(package)]
    assert dep["kind"] == "Provider"
    assert _admits(dep["version"], _vendored(section)), dep
    for version in refused:
        assert not _admits(dep["version"], version), (dep, version)


def test_configuration_depends_on_the_function_it_composes_with():
    (meta,) = load_yaml(CONFIGURATION_META)
    (fn,) = [d for d in meta["spec"]["dependsOn"] if d["kind"] == "Function"]
    (ref,) = [d for d in load_yaml(ROOT / "examples" / "functions.yaml")]
    assert fn["package"] == ref["spec"]["package"].rsplit(":", 1)[0]
    assert _admits(fn["version"], ref["spec"]["package"].rsplit(":", 1)[1])


def test_configuration_package_holds_every_namespaced_xrd_and_composition():
    apis = ROOT / "package-configuration" / "apis"
    for folder in ("xrds", "compositions"):
        shipped = sorted(p.name for p in (apis / folder).glob("*.yaml"))
        assert shipped == sorted(f"{k.plural}.yaml" for k in kinds.KINDS)
        for name in shipped:
            source = ROOT / folder / "namespaced" / name
            assert (apis / folder / name).read_text() == source.read_text()
            for doc in load_yaml(apis / folder / name):
                crds.validate(doc)


def _compositions(*args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "function.main", "compositions", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("namespaced", [False, True], ids=["claims", "namespaced"])
def test_compositions_command_reproduces_the_shipped_compositions(tmp_path, namespaced):
    args = ["--platform", "examples/platform.yaml", "-o", str(tmp_path / "out")]
    done = _compositions(*args, *(["--namespaced"] if namespaced else []))
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"wrote 6 Compositions to {tmp_path / 'out'}\n"
    shipped = ROOT / "compositions" / ("namespaced" if namespaced else "")
    written = sorted((tmp_path / "out").iterdir())
    assert [p.name for p in written] == sorted(p.name for p in shipped.glob("*.yaml"))
    for path in written:
        assert path.read_text() == (shipped / path.name).read_text()


def test_compositions_carry_the_platform_file_values(tmp_path):
    platform = {**EXAMPLE_INPUT, "secretNamespace": "rds-secrets", "tags": {"cost-center": "42"}}
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(platform))
    done = _compositions("--platform", str(tmp_path / "p.yaml"), "-o", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    (doc,) = load_yaml(tmp_path / "out" / "xpostgresqlinstances.yaml")
    assert doc["spec"]["pipeline"][0]["input"] == platform
    assert doc["spec"]["writeConnectionSecretsToNamespace"] == "rds-secrets"
    crds.validate(doc)


# (case, platform file text, the whole error line after "function-rds: error: <file>: ")
BAD_PLATFORMS = [
    ("NotYaml", "aws: [\n", "not YAML (line 2, column 1): expected the node content, but found '<stream end>'"),
    ("AList", "- a\n- b\n", f"must hold one document of apiVersion {inputs.API_VERSION}, kind Input"),
    ("TwoDocuments", "aws: {}\n---\naws: {}\n", f"must hold one document of apiVersion {inputs.API_VERSION}, kind Input"),
    ("Empty", "", f"must hold one document of apiVersion {inputs.API_VERSION}, kind Input"),
    ("RetentionTooLong", "backup: {defaults: {retentionDays: 40}}\n",
     "backup.defaults.retentionDays: input should be less than or equal to 35 (got 40)"),
    ("UnknownField", "aws: {regin: eu-west-1}\n", "aws.regin: extra inputs are not permitted (got 'eu-west-1')"),
]  # fmt: skip


@pytest.mark.parametrize("case", BAD_PLATFORMS, ids=[c[0] for c in BAD_PLATFORMS])
def test_compositions_command_names_what_is_wrong_in_the_platform_file(tmp_path, case):
    _, text, want = case
    (tmp_path / "platform.yaml").write_text(text)
    done = _compositions("--platform", "platform.yaml", "-o", "out", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr == f"function-rds: error: platform.yaml: {want}\n"
    assert not (tmp_path / "out").exists()


def test_compositions_command_says_a_missing_file_is_missing(tmp_path):
    done = _compositions("--platform", "nope.yaml", "-o", "out", cwd=tmp_path)
    assert (done.returncode, done.stderr) == (
        1,
        "function-rds: error: nope.yaml: cannot read: No such file or directory\n",
    )


def test_docs_cover_every_kind_field_input_field_and_reason():
    api = (ROOT / "docs" / "api.md").read_text()
    for kind in kinds.KINDS:
        assert f"## {kind.claim}\n" in api
    assert "| `spec.config.allocatedStorage` | integer |" in api
    page = (ROOT / "docs" / "input.md").read_text()
    for field in inputs.Input.model_fields:
        if field not in ("apiVersion", "kind", "metadata"):
            assert f"| `.{field}` |" in page, field
    reasons = (ROOT / "docs" / "conditions.md").read_text()
    for reason in conditions.Reason:
        assert f"| `{reason}` |" in reasons, reason


def test_generate_check_fails_on_a_stale_doc(tmp_path, monkeypatch):
    page = tmp_path / "api.md"
    page.write_text("old\n")
    monkeypatch.setattr(generate, "files", lambda: {page: "new\n", tmp_path / "missing.md": "x\n"})
    monkeypatch.setattr(generate, "ROOT", tmp_path)
    assert generate.main(["--check"]) == 1


def test_install_examples_validate_against_crossplane_crds():
    docs = load_yaml(ROOT / "examples" / "install" / "function.yaml")
    docs += load_yaml(ROOT / "examples" / "install" / "configuration.yaml")
    for doc in docs:
        crds.validate(doc)
    runtime, function, configuration = docs
    assert function["spec"]["runtimeConfigRef"]["name"] == runtime["metadata"]["name"]
    # The name every Composition's step calls.
    assert function["metadata"]["name"] == xrds.FUNCTION_NAME
    (container,) = runtime["spec"]["deploymentTemplate"]["spec"]["template"]["spec"]["containers"]
    assert container["name"] == "package-runtime"  # the only name Crossplane merges into its own
    assert runtime["spec"]["deploymentTemplate"]["spec"]["replicas"] >= 2
    (meta,) = load_yaml(CONFIGURATION_META)
    (dep,) = [d for d in meta["spec"]["dependsOn"] if d["kind"] == "Function"]
    assert function["spec"]["package"].rsplit(":", 1)[0] == dep["package"]
    assert configuration["spec"]["package"].split("/")[-1].startswith(meta["metadata"]["name"])


def test_ci_steps_are_scripts_that_exist():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    runs = [s["run"] for job in workflow["jobs"].values() for s in job["steps"] if "run" in s]
    called = {m for run in runs for m in re.findall(r"\./(scripts/[a-z-]+)", run)}
    assert called == {"scripts/lint", "scripts/test", "scripts/package"}
    for script in called:
        assert os.access(ROOT / script, os.X_OK), script
    # CI here (.ci/run) cannot build images: only the tests.
    assert "scripts/package" not in (ROOT / ".ci" / "run").read_text()


def test_package_script_says_what_is_missing(tmp_path):
    # No docker and no crossplane on PATH: a clear list and a failure, never a half build.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "dirname", "printf"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    done = subprocess.run(
        [str(ROOT / "scripts" / "package")],
        env={"PATH": str(bin_dir)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr == (
        "scripts/package: cannot build the packages; missing:\n"
        "  - docker (https://docs.docker.com/engine/install/)\n"
        "  - the crossplane CLI on PATH (https://docs.crossplane.io/latest/cli/)\n"
    )
