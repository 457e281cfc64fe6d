"""The bundled migrations: one head, no drift from the models, down and up again."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from mpesa_daraja_kit.db.migrate import (
    VERSION_TABLE,
    alembic_config,
    check_schema,
    current_revision,
    downgrade,
    head_revision,
    migrate,
    schema_diff,
)
from mpesa_daraja_kit.db.models import metadata
from mpesa_daraja_kit.errors import ErrorCode, SchemaOutOfDate
from tests.databases import fresh_database, make_engine


def test_revision_graph_has_exactly_one_head() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert len(script.get_heads()) == 1
    assert head_revision() == script.get_heads()[0]


async def _table_names(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            names: list[str] = await conn.run_sync(lambda c: sa.inspect(c).get_table_names())
    finally:
        await engine.dispose()
    return set(names)


async def test_upgrade_on_empty_database_matches_models_then_down_and_up(
    backend: str, tmp_path: Path
) -> None:
    async with fresh_database(backend, tmp_path) as url:
        assert await current_revision(url) is None
        with pytest.raises(SchemaOutOfDate) as info:
            await check_schema(url)
        assert info.value.code is ErrorCode.SCHEMA_OUT_OF_DATE
        assert "mpesa-kit db upgrade" in str(info.value)

        await migrate(url)
        assert await current_revision(url) == head_revision()
        await check_schema(url)
        assert await schema_diff(url) == []
        assert await _table_names(url) == set(metadata.tables) | {VERSION_TABLE}

        await downgrade(url, "base")
        assert await _table_names(url) == {VERSION_TABLE}
        assert await current_revision(url) is None

        await migrate(url)
        assert await schema_diff(url) == []


async def test_migrations_leave_host_tables_alone(backend: str, tmp_path: Path) -> None:
    async with fresh_database(backend, tmp_path) as url:
        engine = make_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.execute(sa.text("CREATE TABLE host_policies (id INTEGER PRIMARY KEY)"))
                await conn.execute(sa.text("INSERT INTO host_policies (id) VALUES (7)"))
        finally:
            await engine.dispose()
        await migrate(url)
        # The host's own table is neither reported as drift nor touched by a downgrade.
        assert await schema_diff(url) == []
        await downgrade(url, "base")
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                rows = (await conn.execute(sa.text("SELECT id FROM host_policies"))).all()
        finally:
            await engine.dispose()
        assert rows == [(7,)]
