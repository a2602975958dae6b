"""Sealing of stored parameter and secret values under the control plane's master key.

The same master key file and the same `seal`/`unseal` as the endpoint's access keys
(`orchestrator.security.credentials`), with the row's identity as the bound context, so a sealed
value copied onto another parameter's row does not unseal. Nothing here logs a value.
"""

from __future__ import annotations

import functools
from pathlib import Path

from orchestrator.security.secrets import load_or_create_master_key, seal, unseal


class SealedValues:
    """Seal and unseal values with the master key at `master_key_path`, read (or made) on first use."""

    def __init__(self, master_key_path: Path) -> None:
        self._path = master_key_path

    @functools.cached_property
    def _key(self) -> bytes:
        return load_or_create_master_key(self._path)

    def seal(self, plaintext: str, context: str) -> str:
        return seal(self._key, plaintext, context=context)

    def unseal(self, sealed: str, context: str) -> str:
        """Raises `orchestrator.security.secrets.SealError` for a value that is not intact or not ours."""
        return unseal(self._key, sealed, context=context)
