"""Optional API keys: who is calling, as a fingerprint that jobs record as their owner.

With API_KEYS empty the API is open and every caller is the same anonymous owner "". With
keys, every /apiv1 request needs `Authorization: Bearer <key>`; a job records the fingerprint
of the key that created it (a hash, never the key) and only that key sees it.
"""

import hashlib
import hmac

from flask import Request, current_app, g

from msaas.errors import Unauthorized

ANONYMOUS = ""
# Enough of the hash to tell keys apart; the key itself cannot be recovered from it.
FINGERPRINT_CHARS = 16


def fingerprint(key: str) -> str:
    """The owner name of a key: the start of its SHA-256."""
    return hashlib.sha256(key.encode()).hexdigest()[:FINGERPRINT_CHARS]


def bearer_token(request: Request) -> str:
    """The token of an `Authorization: Bearer <token>` header, or ""."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def matching_key(token: str, keys: tuple[str, ...]) -> str:
    """The configured key equal to `token` (compared in constant time), or ""."""
    found = ""
    for key in keys:
        if token and hmac.compare_digest(token.encode(), key.encode()):
            found = key
    return found


def authenticate(request: Request) -> None:
    """Set `g.owner` for this request; raise Unauthorized when keys are set and none is given."""
    keys = current_app.config["MSAAS_SETTINGS"].api_key_list
    if not keys:
        g.owner = ANONYMOUS
        return

    key = matching_key(bearer_token(request), keys)
    if not key:
        raise Unauthorized(
            "this API needs a key: send the header 'Authorization: Bearer <your key>'"
        )
    g.owner = fingerprint(key)


def current_owner() -> str:
    """The owner of the request being served ("" on an open API)."""
    return g.get("owner", ANONYMOUS)


def rate_limit_key(request: Request) -> str:
    """Whom a rate limit counts: the API key when it is a configured one, else the address.

    An unknown token counts as its address, so made-up tokens cannot open fresh budgets.
    """
    keys = current_app.config["MSAAS_SETTINGS"].api_key_list
    key = matching_key(bearer_token(request), keys)
    if key:
        return "key:" + fingerprint(key)
    return "addr:" + (request.remote_addr or "unknown")
