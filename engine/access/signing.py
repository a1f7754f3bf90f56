"""Signing secrets of webhooks and issuer callbacks, in the Standard Webhooks form (https://www.standardwebhooks.com).

A secret is `whsec_` followed by the base64 of 24 to 64 random bytes (`new_secret`); those bytes are the
HMAC-SHA256 key of the Standard Webhooks signature. Secrets configured before Lvyue adopted Standard
Webhooks are plain texts (e.g. `--secret zj-secret`) and keep working unchanged: their key is their UTF-8
text, so a receiver moving to a Standard Webhooks verifier gives it `standard_form(secret)` = `whsec_` +
base64(UTF-8 text), e.g. `zj-secret` → `whsec_emotc2VjcmV0`. (The deprecated `X-Lvyue-Signature` is keyed
by the secret's text as configured, whatever its form, as it always was.)
"""
from __future__ import annotations

import base64
import binascii
import secrets

PREFIX = "whsec_"
MIN_KEY_BYTES, MAX_KEY_BYTES = 24, 64  # the Standard Webhooks specification's bounds for a symmetric key


def key(secret: str) -> bytes:
    """The HMAC key of `secret`: the decoded bytes of a `whsec_` secret, else the UTF-8 text (a legacy secret)."""
    if secret.startswith(PREFIX):
        return base64.b64decode(secret[len(PREFIX):], validate=True)
    return secret.encode("utf-8")


def standard_form(secret: str) -> str:
    """`secret` as a Standard Webhooks verifier takes it: a `whsec_` secret as it is, a legacy one as
    `whsec_` + base64 of its UTF-8 text (the same key, so the same signatures)."""
    if secret.startswith(PREFIX):
        return secret
    return PREFIX + base64.b64encode(secret.encode("utf-8")).decode("ascii")


def new_secret(nbytes: int = 32) -> str:
    """A new random secret in the `whsec_` form."""
    return PREFIX + base64.b64encode(secrets.token_bytes(nbytes)).decode("ascii")


def problem(secret: str) -> str | None:
    """Why `secret` cannot sign (a malformed `whsec_` secret), or None. Legacy texts are checked by their
    callers' own rules (length)."""
    if not isinstance(secret, str) or not secret:
        return "a non-empty text"
    if not secret.startswith(PREFIX):
        return None
    try:
        raw = base64.b64decode(secret[len(PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        return "whsec_ followed by standard base64"
    if not MIN_KEY_BYTES <= len(raw) <= MAX_KEY_BYTES:
        return f"whsec_ followed by the base64 of {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes, not {len(raw)}"
    return None
