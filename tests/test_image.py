"""The runtime image's install: requirements.lock covers pyproject.toml with hashes, the Dockerfile
installs exactly it, and the same install in a fresh venv serves RunFunction over mTLS."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import grpc
import pytest
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from function.render import free_port
from tests.helpers import ROOT, composite, request, self_signed
from tests.test_reliability import _pki

LOCK = ROOT / "requirements.lock"


def _pins() -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes) of every requirement in the lock."""
    out = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", LOCK.read_text()):
        first = block.split()[0] if block.strip() and not block.startswith("#") else ""
        if "==" in first:
            name, version = first.split("==")
            out[canonicalize_name(name)] = (version, block.count("--hash=sha256:"))
    return out


def test_lock_pins_every_dependency_of_pyproject_with_hashes():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = _pins()
    problems = []
    for line in project["dependencies"]:
        req = Requirement(line)
        pinned = pins.get(canonicalize_name(req.name))
        if pinned is None:
            problems.append(f"{req.name} is not in requirements.lock")
        elif not req.specifier.contains(pinned[0], prereleases=True):
            problems.append(f"{req.name}=={pinned[0]} does not satisfy {req.specifier}")
    problems += [f"{n} has no hash" for n, (_, hashes) in pins.items() if hashes == 0]
    assert problems == [], "run ./scripts/lock: " + "; ".join(problems)


def test_dockerfile_installs_exactly_the_lock_and_serves_as_non_root():
    text = (ROOT / "Dockerfile").read_text()
    runs = [line.strip() for line in text.splitlines() if "pip install" in line]
    assert runs == [
        "RUN /venv/fn/bin/pip install --no-cache-dir --require-hashes -r /build/requirements.lock",
        "RUN /venv/fn/bin/pip install --no-cache-dir --no-deps /build",
    ]
    final = text.rsplit("\nFROM ", 1)[1]
    assert "USER nonroot:nonroot" in final
    assert 'ENTRYPOINT ["/venv/fn/bin/function-rds"]' in final
    assert "ENV TLS_SERVER_CERTS_DIR=/tls/server" in final


def _certificates(d: Path) -> Path:
    """A CA, a server certificate for localhost and a client certificate, as Crossplane has."""
    self_signed(d / "ca.crt", d / "ca.key", "ca")
    _pki(d, "server", str(d / "ca.crt"), str(d / "ca.key"), san="DNS:localhost,IP:127.0.0.1")
    _pki(d, "crossplane", str(d / "ca.crt"), str(d / "ca.key"))
    certs = d / "tls"
    certs.mkdir()
    for have, want in (("server.crt", "tls.crt"), ("server.key", "tls.key"), ("ca.crt", "ca.crt")):
        shutil.copy(d / have, certs / want)
    return certs


def _pip(venv: Path, *args: str, cwd: Path) -> None:
    done = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "--no-cache-dir", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.slow
def test_the_locked_install_serves_run_function_over_mtls(tmp_path):
    # What the Dockerfile's build stage copies, and nothing else.
    src = tmp_path / "build"
    src.mkdir()
    for name in ("requirements.lock", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(
        ROOT / "function", src / "function", ignore=shutil.ignore_patterns("__pycache__")
    )
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    _pip(venv, "--require-hashes", "-r", "requirements.lock", cwd=src)
    _pip(venv, "--no-deps", ".", cwd=src)
    check = subprocess.run([str(venv / "bin" / "pip"), "check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout

    certs = _certificates(tmp_path)
    address = f"localhost:{free_port()}"
    # As the image runs: the entrypoint alone, its TLS directory from the environment.
    env = {"PATH": os.environ["PATH"], "TLS_SERVER_CERTS_DIR": str(certs), "ADDRESS": address}
    proc = subprocess.Popen(
        [str(venv / "bin" / "function-rds")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    creds = grpc.ssl_channel_credentials(
        root_certificates=(tmp_path / "ca.crt").read_bytes(),
        private_key=(tmp_path / "crossplane.key").read_bytes(),
        certificate_chain=(tmp_path / "crossplane.crt").read_bytes(),
    )
    req = request(
        composite("PostgresqlInstance", {"serviceVersion": "17.5", "plan": "single-small"})
    )
    try:
        with grpc.secure_channel(address, creds) as channel:
            rsp = grpcv1.FunctionRunnerServiceStub(channel).RunFunction(
                req, timeout=30, wait_for_ready=True
            )
        assert "instance" in rsp.desired.resources
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert b"Traceback" not in err, err.decode()[-2000:]
