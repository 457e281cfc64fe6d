"""A Daraja OAuth token cache in the kit's database, shared by every worker and host.

Daraja may invalidate the previous token when a new one is issued (DARAJA.md,
Hosts and auth), so workers that each kept their own would knock each other
out; with this cache they all use the newest one.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from mpesa_daraja_kit.client.auth import CachedToken
from mpesa_daraja_kit.clock import Clock, utc_now
from mpesa_daraja_kit.db.models import oauth_tokens

__all__ = ["DatabaseTokenCache"]

_T = oauth_tokens


class DatabaseTokenCache:
    """A :class:`~mpesa_daraja_kit.client.TokenCache` stored in ``mpesa_oauth_tokens``."""

    def __init__(self, engine: AsyncEngine, *, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._clock = clock

    async def get(self, key: str) -> CachedToken | None:
        """Return the stored token for ``key`` (expired or not), or None."""
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(_T.c.access_token, _T.c.expires_at).where(_T.c.cache_key == key)
                )
            ).first()
        return CachedToken(row.access_token, row.expires_at) if row is not None else None

    async def set(self, key: str, token: CachedToken) -> None:
        """Store ``token`` for ``key``, replacing any previous one."""
        values = {
            "access_token": token.access_token,
            "expires_at": token.expires_at,
            "updated_at": self._clock(),
        }
        async with self._engine.begin() as conn:
            result = await conn.execute(sa.update(_T).where(_T.c.cache_key == key).values(**values))
            if result.rowcount:
                return
        try:
            async with self._engine.begin() as conn:
                await conn.execute(sa.insert(_T).values(cache_key=key, **values))
        except IntegrityError:
            # Another worker stored one first: keep the newer of the two.
            async with self._engine.begin() as conn:
                await conn.execute(
                    sa.update(_T)
                    .where(_T.c.cache_key == key, _T.c.expires_at < token.expires_at)
                    .values(**values)
                )

    async def invalidate(self, key: str, access_token: str) -> None:
        """Forget the token for ``key`` if it is still ``access_token`` (leave a newer one)."""
        async with self._engine.begin() as conn:
            await conn.execute(
                sa.delete(_T).where(_T.c.cache_key == key, _T.c.access_token == access_token)
            )
