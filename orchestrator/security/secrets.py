"""Credentials for the ECS-compatible endpoint: access key pairs, bearer tokens and the master key.

SigV4 is an HMAC over the request keyed by the secret access key, so the server needs the secret
itself, not a hash of it. Secrets are therefore stored sealed (encrypted and authenticated) under a
key derived from a master key file that only the daemon's user can read, so that a copied database
alone does not leak them. Bearer tokens need no such care: they are stored as SHA-256 hashes.

Only the standard library is used: the cipher is HMAC-SHA256 in counter mode as a keystream, with a
random nonce per seal and an HMAC-SHA256 tag over everything (encrypt-then-MAC), under two keys
derived from the master key for the two jobs.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

ACCESS_KEY_PREFIX = "AKIA"
ACCESS_KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
MASTER_KEY_BYTES = 32

_SEAL_VERSION = "v1"
_NONCE_BYTES = 16
_TAG_BYTES = 32
_BLOCK_BYTES = 32


class SealError(ValueError):
    """A sealed value was tampered with, sealed under another key or context, or is not one at all."""


class InsecureKeyFileError(PermissionError):
    """The master key file can be read by users other than its owner."""


@dataclass(frozen=True)
class KeyPair:
    access_key_id: str
    secret_access_key: str


def new_access_key_id() -> str:
    """`AKIA` and 16 characters of [A-Z2-7], shaped like AWS's so tools that check the shape accept it."""
    return ACCESS_KEY_PREFIX + "".join(secrets.choice(ACCESS_KEY_ALPHABET) for _ in range(16))


def new_secret_access_key() -> str:
    """40 characters of [A-Za-z0-9+/], like AWS's: 30 random bytes are exactly 40 base64 digits."""
    return base64.b64encode(secrets.token_bytes(30)).decode("ascii")


def new_key_pair() -> KeyPair:
    return KeyPair(access_key_id=new_access_key_id(), secret_access_key=new_secret_access_key())


def new_token(prefix: str) -> str:
    """A bearer token: `prefix` as given (e.g. `lecs_`) then 256 random bits, URL-safe."""
    return prefix + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """What is stored for a bearer token: its SHA-256 in hex. Tokens are random, so no salt is needed."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_token(token: str, hashed: str) -> bool:
    """Whether `token` is the one `hashed` was made from, in time independent of where they differ."""
    return hmac.compare_digest(hash_token(token).encode("ascii"), hashed.encode("utf-8"))


def seal(master_key: bytes, plaintext: str, *, context: str = "") -> str:
    """Encrypt and authenticate `plaintext`; `context` (e.g. the access key id) is bound but not stored.

    Binding a context means a sealed secret moved to another row of the database no longer unseals.
    """
    enc_key, mac_key = _subkeys(master_key)
    nonce = secrets.token_bytes(_NONCE_BYTES)
    data = plaintext.encode("utf-8")
    ciphertext = bytes(a ^ b for a, b in zip(data, _keystream(enc_key, nonce, len(data)), strict=True))
    tag = _tag(mac_key, context, nonce, ciphertext)
    return f"{_SEAL_VERSION}.{base64.urlsafe_b64encode(nonce + ciphertext + tag).decode('ascii')}"


def unseal(master_key: bytes, sealed: str, *, context: str = "") -> str:
    """The plaintext `seal` was given; raises `SealError` unless the value is intact and ours."""
    enc_key, mac_key = _subkeys(master_key)
    version, dot, encoded = sealed.partition(".")
    if version != _SEAL_VERSION or not dot:
        raise SealError("not a sealed value (unknown version)")
    try:
        raw = base64.b64decode(encoded.encode("ascii"), altchars=b"-_", validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise SealError("not a sealed value (bad encoding)") from exc
    if len(raw) < _NONCE_BYTES + _TAG_BYTES:
        raise SealError("not a sealed value (too short)")
    nonce, ciphertext, tag = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:-_TAG_BYTES], raw[-_TAG_BYTES:]
    # Check the tag before decrypting anything: encrypt-then-MAC.
    if not hmac.compare_digest(tag, _tag(mac_key, context, nonce, ciphertext)):
        raise SealError("sealed value failed its integrity check (tampered, or another key or context)")
    data = bytes(a ^ b for a, b in zip(ciphertext, _keystream(enc_key, nonce, len(ciphertext)), strict=True))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SealError("sealed value does not hold text") from exc


def load_or_create_master_key(path: Path | str) -> bytes:
    """Read the master key at `path`, creating it (mode 0600, parents 0700) if it does not exist.

    The file holds the key in hex on one line. An existing file readable by group or others is
    refused rather than silently used, as ssh does with private keys.
    """
    path = Path(path)
    try:
        return _read_master_key(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        # The umask can only clear bits, but be explicit about the mode the file must have.
        os.fchmod(fd, 0o600)
        os.write(fd, (secrets.token_bytes(MASTER_KEY_BYTES).hex() + "\n").encode("ascii"))
        os.fsync(fd)
        os.close(fd)
        fd = -1
        # link() fails if another process created the key first, and readers never see a half
        # written file; whoever lost the race reads the winner's key.
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        if fd >= 0:
            os.close(fd)
        temporary.unlink(missing_ok=True)
    return _read_master_key(path)


def _read_master_key(path: Path) -> bytes:
    mode = path.stat().st_mode
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InsecureKeyFileError(
            f"master key file {path} has mode {stat.S_IMODE(mode):04o}; it must be 0600 (chmod 600 {path})"
        )
    text = path.read_text(encoding="ascii").strip()
    try:
        key = bytes.fromhex(text)
    except ValueError as exc:
        raise ValueError(f"master key file {path} does not hold a hex key") from exc
    if len(key) != MASTER_KEY_BYTES:
        raise ValueError(f"master key file {path} holds {len(key)} bytes, expected {MASTER_KEY_BYTES}")
    return key


def _subkeys(master_key: bytes) -> tuple[bytes, bytes]:
    if len(master_key) < MASTER_KEY_BYTES:
        raise ValueError(f"master key must be at least {MASTER_KEY_BYTES} bytes")
    # Separate keys for encryption and authentication, so neither use can leak anything about the other.
    enc = hmac.new(master_key, b"orchestrator.security.secrets seal v1 encryption", hashlib.sha256).digest()
    mac = hmac.new(master_key, b"orchestrator.security.secrets seal v1 authentication", hashlib.sha256).digest()
    return enc, mac


def _keystream(enc_key: bytes, nonce: bytes, length: int) -> bytes:
    blocks = []
    for counter in range((length + _BLOCK_BYTES - 1) // _BLOCK_BYTES):
        blocks.append(hmac.new(enc_key, nonce + counter.to_bytes(8, "big"), hashlib.sha256).digest())
    return b"".join(blocks)[:length]


def _tag(mac_key: bytes, context: str, nonce: bytes, ciphertext: bytes) -> bytes:
    # Length-prefix the context so (context, ciphertext) pairs cannot be re-split into another pair.
    bound = context.encode("utf-8")
    message = _SEAL_VERSION.encode("ascii") + len(bound).to_bytes(8, "big") + bound + nonce + ciphertext
    return hmac.new(mac_key, message, hashlib.sha256).digest()
