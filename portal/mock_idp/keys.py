"""The provider's RSA signing key: one PEM file, generated on first start and kept.

Keeping the key lets a restarted provider (or a second instance on the same file) validate
what the first one signed, and keeps ``sub`` values stable across restarts: both the kid and the
secrets derived below depend on the key only.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import tempfile
from pathlib import Path

from joserfc.jwk import RSAKey

KEY_SIZE = 2048


def load_or_create_key(path: Path) -> RSAKey:
    """Read the private key at ``path``, or generate one there when the file is missing."""
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        return _create(path)
    return _import(pem, path)


def derive_secret(key: RSAKey, purpose: str) -> bytes:
    """A secret for one purpose, bound to the key, so that it survives restarts with the key."""
    return hmac.new(key.as_pem(private=True), purpose.encode(), hashlib.sha256).digest()


def _import(pem: bytes, path: Path) -> RSAKey:
    try:
        key = RSAKey.import_key(pem)
    except ValueError:
        key = None
    if key is None or not key.is_private:
        raise ValueError(
            f"{path} is not an RSA private key in PEM form; delete it and a new key is generated"
        )
    return key


def _create(path: Path) -> RSAKey:
    key = RSAKey.generate_key(KEY_SIZE, private=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write a private temporary file, then link it into place: the link fails if another process
    # got there first, and then both use that process's key instead of overwriting it.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".mock_idp_key.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(key.as_pem(private=True))
        try:
            os.link(tmp, path)
        except FileExistsError:
            return _import(path.read_bytes(), path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return key
