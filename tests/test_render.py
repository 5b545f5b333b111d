"""`function-rds render` on the bundled examples, against reviewed golden files.

Regenerate with UPDATE_GOLDEN=1 and review the diff like code.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT, load_yaml

pytestmark = pytest.mark.slow

EXAMPLES = sorted(p for p in (ROOT / "examples").iterdir() if (p / "claim.yaml").exists())


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "function.main", "render", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def composition_for(claim: Path) -> str:
    kind = load_yaml(claim)[0]["kind"]
    return f"compositions/x{kind.lower()}s.yaml"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_renders_to_golden(example: Path):
    args = [
        str((example / "claim.yaml").relative_to(ROOT)),
        composition_for(example / "claim.yaml"),
        "examples/functions.yaml",
        "-r",
    ]
    if (example / "observed.yaml").exists():
        args += ["-o", str((example / "observed.yaml").relative_to(ROOT))]
    if (example / "required.yaml").exists():
        args += ["-e", str((example / "required.yaml").relative_to(ROOT))]
    out = cli(*args)
    assert out.returncode == 0, out.stderr
    golden = ROOT / "tests" / "golden" / f"{example.name}.yaml"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(out.stdout)
    assert out.stdout == golden.read_text(), f"{example.name}: rerun with UPDATE_GOLDEN=1"


def test_xr_and_claim_render_the_same():
    base = ["compositions/xpostgresqlinstances.yaml", "examples/functions.yaml"]
    a = cli("examples/postgresql/claim.yaml", *base)
    b = cli("examples/postgresql/xr.yaml", *base)
    assert a.returncode == b.returncode == 0, a.stderr + b.stderr
    assert a.stdout == b.stdout


def test_available_instance_is_ready_with_status():
    docs = load_yaml(ROOT / "tests" / "golden" / "postgresql-available.yaml")
    xr = docs[0]
    ready = next(c for c in xr["status"]["conditions"] if c["type"] == "Ready")
    # The RDS instance is up; the instance waits for its SQL group roles, composed only now.
    assert (ready["status"], ready["reason"]) == ("False", "Creating")
    assert ready["message"] == (
        "Unready resources: sql-default-privileges-ro-sequences, "
        "sql-default-privileges-ro-tables, sql-grant-master-rw, and 6 more"
    )
    assert {
        d["metadata"]["annotations"]["crossplane.io/composition-resource-name"] for d in docs[1:]
    } >= {"sql-role-rw", "sql-role-ro"}
    assert xr["status"]["endpoint"].endswith(".rds.amazonaws.com")


def test_composition_for_another_kind_is_refused():
    out = cli(
        "examples/postgresql/claim.yaml",
        "compositions/xmysqlinstances.yaml",
        "examples/functions.yaml",
    )
    assert out.returncode == 1
    assert "does not match XR's kind" in out.stderr


def test_invalid_input_is_a_fatal_error(tmp_path: Path):
    bad = tmp_path / "input.yaml"
    bad.write_text("apiVersion: rds.fn.anynines.com/v1beta1\nkind: Input\nsqlSslMode: maybe\n")
    out = cli(
        "examples/postgresql/claim.yaml",
        "compositions/xpostgresqlinstances.yaml",
        "examples/functions.yaml",
        "--input",
        str(bad),
    )
    assert out.returncode == 1
    assert out.stdout == ""
    assert (
        'crossplane: error: cannot render composite resource: pipeline step "rds" returned a '
        "fatal result: cannot use the function input of this Composition step: "
        "input.sqlSslMode: input should be 'disable' or 'require' "
        "(got 'maybe')"
    ) in out.stderr


def test_xrd_defaults_are_applied_with_xrd_flag():
    out = cli(
        "examples/servicebinding/claim.yaml",
        "compositions/xservicebindings.yaml",
        "examples/functions.yaml",
        "-x",
        "--xrd",
        "xrds/xservicebindings.yaml",
    )
    assert out.returncode == 0, out.stderr
    xr = load_yaml_text(out.stdout)[0]
    assert xr["spec"]["role"] == "readWrite"  # written in the claim
    out = cli(
        "examples/postgresql/xr.yaml",
        "compositions/xpostgresqlinstances.yaml",
        "examples/functions.yaml",
        "-x",
        "--xrd",
        "xrds/xpostgresqlinstances.yaml",
    )
    xr = load_yaml_text(out.stdout)[0]
    assert xr["spec"]["config"]["encryptedStorage"] is True, "XRD default applied"
    assert xr["spec"]["config"]["publiclyAccessible"] is False


def load_yaml_text(text: str) -> list[dict]:
    import yaml

    return [d for d in yaml.safe_load_all(text) if d]
