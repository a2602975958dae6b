"""The dashboard's login session: an HttpOnly cookie that proves its holder typed the admin token.

The cookie is not the token: it is `ISSUED.MAC`, an HMAC over its issue time keyed by the admin
token's hash, so it expires on its own, stops working when the token changes, survives a restart
of the control plane, and needs no session table. The token itself is only ever read from the
login form's body, never from a URL, and never logged.
"""

from __future__ import annotations

import hashlib
import hmac

COOKIE = "orch_ui"
LIFETIME_S = 12 * 3600
_CONTEXT = b"orchestrator-ui-session:"


def _mac(admin_hash: str, issued: int) -> str:
    return hmac.new(admin_hash.encode("utf-8"), _CONTEXT + str(issued).encode(), hashlib.sha256).hexdigest()


def issue(admin_hash: str, now: float) -> str:
    issued = int(now)
    return f"{issued}.{_mac(admin_hash, issued)}"


def valid(admin_hash: str, cookie: str | None, now: float) -> bool:
    """Whether `cookie` was issued for this admin token less than LIFETIME_S ago (and not in the future)."""
    if not cookie or "." not in cookie:
        return False
    issued_text, mac = cookie.split(".", 1)
    if not issued_text.isdigit():
        return False
    issued = int(issued_text)
    if not issued <= now + 60 or now - issued >= LIFETIME_S:
        return False
    return hmac.compare_digest(mac.encode("ascii", "replace"), _mac(admin_hash, issued).encode("ascii"))
