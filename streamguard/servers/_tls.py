"""Certificates for local test servers: a CA made for the run and certificates it signs, for
127.0.0.1 and localhost, made with Debian's ``openssl`` into a server's private folder."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ._process import ServerStartError


def _openssl(*args: str, cwd: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise ServerStartError("`openssl` is not on PATH; install Debian's openssl package")
    done = subprocess.run([openssl, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, check=False)
    if done.returncode != 0:
        raise ServerStartError(f"openssl {args[0]} failed: {done.stderr.strip()[-1000:]}")


def make_ca(folder: Path, name: str = "ca") -> tuple[Path, Path]:
    """A self-signed CA in *folder*: returns (certificate, key)."""
    folder.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", f"/CN=streamguard test {name}", "-keyout", f"{name}.key",
             "-out", f"{name}.pem", cwd=folder)
    return folder / f"{name}.pem", folder / f"{name}.key"


def make_certificate(folder: Path, name: str, ca: tuple[Path, Path]) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1/localhost signed by *ca*: returns (certificate, key)."""
    (folder / f"{name}.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
             "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=folder)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", str(ca[0]), "-CAkey", str(ca[1]),
             "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext",
             "-out", f"{name}.pem", cwd=folder)
    # Kafka's PEM key store wants an unencrypted PKCS#8 key followed by the chain.
    _openssl("pkcs8", "-topk8", "-nocrypt", "-in", f"{name}.key", "-out", f"{name}.p8",
             cwd=folder)
    return folder / f"{name}.pem", folder / f"{name}.p8"
