"""Key pairs, bearer tokens, sealing of stored secrets and the master key file."""

from __future__ import annotations

import base64
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from orchestrator.security.secrets import (
    MASTER_KEY_BYTES,
    InsecureKeyFileError,
    SealError,
    check_token,
    hash_token,
    load_or_create_master_key,
    new_access_key_id,
    new_key_pair,
    new_secret_access_key,
    new_token,
    seal,
    unseal,
)

MASTER = bytes(range(32))
OTHER_MASTER = bytes(range(1, 33))

ROUND_TRIPS = [
    ("empty", "", ""),
    ("aws-shaped secret", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "AKIAABCDEFGHIJKLMNOP"),
    ("unicode", "s\u00e9cr\u00e8t \u2713 \U0001f511", ""),
    ("exactly one block", "x" * 32, "ctx"),
    ("many blocks", "0123456789" * 50, "ctx"),
]


@pytest.mark.parametrize(("name", "plaintext", "context"), ROUND_TRIPS, ids=[c[0] for c in ROUND_TRIPS])
def test_seal_round_trips(name: str, plaintext: str, context: str) -> None:
    sealed = seal(MASTER, plaintext, context=context)
    assert unseal(MASTER, sealed, context=context) == plaintext
    if plaintext:
        assert plaintext not in sealed


def test_each_seal_uses_a_fresh_nonce() -> None:
    first, second = seal(MASTER, "same secret"), seal(MASTER, "same secret")
    assert first != second
    assert unseal(MASTER, first) == unseal(MASTER, second) == "same secret"


def _flip_byte(at: int) -> Callable[[str], str]:
    def flip(sealed: str) -> str:
        version, _, encoded = sealed.partition(".")
        raw = bytearray(base64.urlsafe_b64decode(encoded))
        raw[at] ^= 0x01
        return f"{version}.{base64.urlsafe_b64encode(bytes(raw)).decode()}"

    return flip


TAMPERINGS: list[tuple[str, Callable[[str], str], bytes, str]] = [
    ("nonce byte flipped", _flip_byte(0), MASTER, "AKIA1"),
    ("ciphertext byte flipped", _flip_byte(20), MASTER, "AKIA1"),
    ("tag byte flipped", _flip_byte(-1), MASTER, "AKIA1"),
    ("truncated", lambda s: s[:-8], MASTER, "AKIA1"),
    ("extended", lambda s: s + "AAAA", MASTER, "AKIA1"),
    ("unknown version", lambda s: "v2" + s[2:], MASTER, "AKIA1"),
    ("no version", lambda s: s.partition(".")[2], MASTER, "AKIA1"),
    ("not base64", lambda s: "v1.@@@@", MASTER, "AKIA1"),
    ("too short", lambda s: "v1.AAAA", MASTER, "AKIA1"),
    ("another master key", lambda s: s, OTHER_MASTER, "AKIA1"),
    ("another context", lambda s: s, MASTER, "AKIA2"),
    ("context dropped", lambda s: s, MASTER, ""),
]


@pytest.mark.parametrize(("name", "tamper", "key", "context"), TAMPERINGS, ids=[c[0] for c in TAMPERINGS])
def test_tampering_is_detected(name: str, tamper: Callable[[str], str], key: bytes, context: str) -> None:
    sealed = seal(MASTER, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", context="AKIA1")
    with pytest.raises(SealError):
        unseal(key, tamper(sealed), context=context)


def test_short_master_key_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        seal(b"short", "x")


def test_key_pairs_are_shaped_like_aws() -> None:
    pairs = [new_key_pair() for _ in range(20)]
    for pair in pairs:
        assert re.fullmatch(r"AKIA[A-Z2-7]{16}", pair.access_key_id)
        assert re.fullmatch(r"[A-Za-z0-9+/]{40}", pair.secret_access_key)
    assert len({p.access_key_id for p in pairs}) == len(pairs)
    assert len({p.secret_access_key for p in pairs}) == len(pairs)
    assert re.fullmatch(r"AKIA[A-Z2-7]{16}", new_access_key_id())
    assert len(new_secret_access_key()) == 40


TOKEN_CHECKS = [
    ("same token", "lecs_abc", "lecs_abc", True),
    ("other token", "lecs_abc", "lecs_abd", False),
    ("prefix only", "lecs_abc", "lecs_", False),
    ("empty", "lecs_abc", "", False),
]


@pytest.mark.parametrize(("name", "issued", "presented", "accepted"), TOKEN_CHECKS, ids=[c[0] for c in TOKEN_CHECKS])
def test_check_token(name: str, issued: str, presented: str, accepted: bool) -> None:
    assert check_token(presented, hash_token(issued)) is accepted


def test_tokens_carry_their_prefix_and_hash_to_sha256_hex() -> None:
    token = new_token("lecs_")
    assert re.fullmatch(r"lecs_[A-Za-z0-9_-]{43}", token)
    assert token != new_token("lecs_")
    assert re.fullmatch(r"[0-9a-f]{64}", hash_token(token))
    assert hash_token("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert check_token(token, "not hex \u00e9") is False


def test_master_key_is_created_0600_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "state" / "nested" / "master.key"
    key = load_or_create_master_key(path)
    assert len(key) == MASTER_KEY_BYTES
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_or_create_master_key(str(path)) == key
    assert [p.name for p in path.parent.iterdir()] == ["master.key"]
    assert unseal(load_or_create_master_key(path), seal(key, "s3cret")) == "s3cret"


def test_old_umask_does_not_widen_the_key_file(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        load_or_create_master_key(tmp_path / "master.key")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "master.key").stat().st_mode) == 0o600


BAD_KEY_FILES = [
    ("group readable", "00" * 32 + "\n", 0o640, InsecureKeyFileError, "must be 0600"),
    ("world readable", "00" * 32 + "\n", 0o604, InsecureKeyFileError, "must be 0600"),
    ("not hex", "zz" * 32, 0o600, ValueError, "does not hold a hex key"),
    ("wrong length", "00" * 16, 0o600, ValueError, "holds 16 bytes"),
]


@pytest.mark.parametrize(
    ("name", "content", "mode", "error", "message"), BAD_KEY_FILES, ids=[c[0] for c in BAD_KEY_FILES]
)
def test_bad_master_key_files_are_refused(
    tmp_path: Path, name: str, content: str, mode: int, error: type[Exception], message: str
) -> None:
    path = tmp_path / "master.key"
    path.write_text(content)
    path.chmod(mode)
    with pytest.raises(error, match=message):
        load_or_create_master_key(path)
