"""API-key scopes and keys as values: which scopes exist, how keys are parsed and checked.

Keys are held as SHA-256 digests only and a presented key is compared against every digest in
constant time (no early exit), so the time taken tells nothing about which key nearly matched.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from pydantic import SecretStr

from valora_gateway.errors import ForbiddenError, UnauthorizedError

__all__ = ["SCOPES", "ApiKeys", "AuthScope", "parse_keys"]

AuthScope = Literal["predict", "publish", "read", "admin"]
SCOPES: tuple[AuthScope, ...] = get_args(AuthScope)


def parse_keys(value: SecretStr | None) -> tuple[str, ...]:
    """The keys of one ``VALORA_GATEWAY_API_KEYS_<SCOPE>`` value (empty entries dropped)."""
    if value is None:
        return ()
    return tuple(k.strip() for k in value.get_secret_value().split(",") if k.strip())


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


@dataclass(frozen=True)
class ApiKeys:
    """The digests of every scope's keys; scopes in ``open_scopes`` need none (local only)."""

    digests: tuple[tuple[AuthScope, bytes], ...]
    open_scopes: frozenset[AuthScope]

    @classmethod
    def build(cls, keys: Mapping[AuthScope, Sequence[str]], *, local: bool) -> ApiKeys:
        digests = tuple((s, _digest(k)) for s in SCOPES for k in keys.get(s, ()) if k)
        have = {s for s, _ in digests}
        return cls(digests, frozenset(s for s in SCOPES if local and s not in have))

    def scopes_of(self, key: str) -> frozenset[AuthScope]:
        """The scopes ``key`` belongs to, comparing against every digest in constant time."""
        given = _digest(key)
        found: set[AuthScope] = set()
        for scope, digest in self.digests:
            if hmac.compare_digest(given, digest):
                found.add(scope)
        return frozenset(found)

    def authorize(self, key: str | None, scope: AuthScope) -> None:
        """Raise :class:`UnauthorizedError` (no or unknown key) or :class:`ForbiddenError`
        (a key of other scopes only) unless ``key`` may use ``scope``."""
        if scope in self.open_scopes:
            return
        scopes = self.scopes_of(key) if key else frozenset()
        if not scopes:
            raise UnauthorizedError("a valid API key is required (X-API-Key or Bearer)")
        if scope not in scopes:
            raise ForbiddenError(f"this key may not use the {scope!r} scope")
