"""Real PostgreSQL (15, 16, 17) and MariaDB (10.11) servers on loopback, with TLS, set up like RDS.

RDS's master user is not a superuser: on PostgreSQL it has CREATEROLE and CREATEDB and owns the
database named by dbName; on MariaDB it holds the global privileges with GRANT OPTION. The servers
here get exactly such a master user (`dbadmin`), and the tests act only through it.
scripts/sql-servers installs the binaries; these fixtures start and stop the servers.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pymysql

from function.render import free_port
from tests.helpers import self_signed

ROOT = Path(__file__).resolve().parent.parent
MASTER_USER = "dbadmin"
MASTER_PASSWORD = "master-password-only-for-tests"
DB_NAME = "app"

# Where scripts/sql-servers puts them: /opt as root (the postgres user must reach them), else
# the checkout.
_NPM_PG = Path("/opt/function-rds/pg") if os.geteuid() == 0 else ROOT / "build/pg"
PG_BIN = {
    "15": Path("/usr/lib/postgresql/15/bin"),
    "16": _NPM_PG / "node_modules/pg16/native/bin",
    "17": _NPM_PG / "node_modules/pg17/native/bin",
}


@dataclass
class Server:
    engine: str
    version: str
    port: int
    host: str = "127.0.0.1"


def make_tls(directory: Path, owner: str | None = None) -> tuple[Path, Path]:
    crt, key = directory / "server.crt", directory / "server.key"
    self_signed(crt, key, "localhost")
    key.chmod(0o600)
    if owner:
        shutil.chown(crt, owner)
        shutil.chown(key, owner)
    return crt, key


def _as_postgres(*cmd: str) -> subprocess.CompletedProcess:
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    # A working directory the postgres user can enter (the checkout may be under /root).
    done = subprocess.run([*prefix, *cmd], capture_output=True, text=True, cwd="/tmp")
    if done.returncode:
        raise RuntimeError(f"{cmd[0]} failed: {done.stdout}{done.stderr}")
    return done


# RDS with rds.force_ssl=1: every TCP connection must use TLS.
_PG_HBA_TLS_ONLY = (
    "local all all trust\n"
    "hostssl all all 127.0.0.1/32 scram-sha-256\n"
    "hostssl all all ::1/128 scram-sha-256\n"
)


@contextlib.contextmanager
def postgresql(
    version: str, workdir: Path, tls: tuple[Path, Path] | None = None, tls_only: bool = False
):
    """tls: the server's certificate and key (default: self-signed); tls_only: hostssl only."""
    bindir = PG_BIN[version]
    if not (bindir / "postgres").exists():
        raise RuntimeError(f"PostgreSQL {version} is not installed: run scripts/sql-servers")
    workdir.mkdir(parents=True)
    data = workdir / "data"
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres")
    owner = "postgres" if os.geteuid() == 0 else None
    if tls:
        crt, key = workdir / "server.crt", workdir / "server.key"
        shutil.copy(tls[0], crt)
        shutil.copy(tls[1], key)
        key.chmod(0o600)
        if owner:
            shutil.chown(crt, owner)
            shutil.chown(key, owner)
    else:
        crt, key = make_tls(workdir, owner)
    _as_postgres(
        str(bindir / "initdb"),
        "-D",
        str(data),
        "-U",
        "postgres",
        "-E",
        "UTF8",
        "--locale=C.UTF-8",
        "--auth-local=trust",
        "--auth-host=scram-sha-256",
    )
    if tls_only:
        hba = workdir / "pg_hba.conf"
        hba.write_text(_PG_HBA_TLS_ONLY)
        if owner:
            shutil.chown(hba, owner)
    port = free_port()
    options = (
        f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c ssl=on "
        f"-c ssl_cert_file={crt} -c ssl_key_file={key} -c fsync=off"
    )
    if tls_only:
        options += f" -c hba_file={workdir / 'pg_hba.conf'}"
    _as_postgres(
        str(bindir / "pg_ctl"),
        "-D",
        str(data),
        "-o",
        options,
        "-l",
        str(workdir / "log"),
        "-w",
        "start",
    )
    try:
        with psycopg.connect(
            host=str(workdir), port=port, user="postgres", dbname="postgres", autocommit=True
        ) as su:
            su.execute(
                f"CREATE ROLE {MASTER_USER} LOGIN CREATEROLE CREATEDB PASSWORD '{MASTER_PASSWORD}'"
            )
            su.execute(f"CREATE DATABASE {DB_NAME} OWNER {MASTER_USER}")
        yield Server("postgresql", version, port)
    finally:
        _as_postgres(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")


@contextlib.contextmanager
def mariadb(workdir: Path, tls: tuple[Path, Path] | None = None, tls_only: bool = False):
    """tls: the server's certificate and key (default: self-signed); tls_only: TLS required."""
    if shutil.which("mariadbd") is None:
        raise RuntimeError("MariaDB is not installed: run scripts/sql-servers")
    workdir.mkdir(parents=True)
    data, sock = workdir / "data", workdir / "mysqld.sock"
    crt, key = tls or make_tls(workdir)
    subprocess.run(
        [
            "mariadb-install-db",
            f"--datadir={data}",
            "--user=root",
            "--auth-root-authentication-method=socket",
            "--skip-test-db",
        ],
        check=True,
        capture_output=True,
    )
    port = free_port()
    proc = subprocess.Popen(
        [
            "mariadbd",
            "--no-defaults",
            f"--datadir={data}",
            f"--socket={sock}",
            f"--port={port}",
            "--bind-address=127.0.0.1",
            "--user=root",
            f"--ssl-cert={crt}",
            f"--ssl-key={key}",
            f"--pid-file={workdir / 'pid'}",
            f"--log-error={workdir / 'error.log'}",
            "--skip-log-bin",
            "--innodb-buffer-pool-size=64M",
            *(["--require-secure-transport=ON"] if tls_only else []),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                root = pymysql.connect(unix_socket=str(sock), user="root", autocommit=True)
                break
            except pymysql.err.OperationalError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        with root, root.cursor() as cur:
            cur.execute(f"CREATE USER '{MASTER_USER}'@'%' IDENTIFIED BY '{MASTER_PASSWORD}'")
            cur.execute(f"GRANT ALL PRIVILEGES ON *.* TO '{MASTER_USER}'@'%' WITH GRANT OPTION")
            cur.execute(f"CREATE DATABASE {DB_NAME}")
        yield Server("mariadb", "10.11", port)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
