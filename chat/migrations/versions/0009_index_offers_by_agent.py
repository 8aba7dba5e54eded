"""index offers by agent, and unanswered chats

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 22:00:00

The routing pass counts each agent's open chats: active ones through the partial index
of 0008, and offers awaiting an answer through `offered_agent_id`'s own index, which
holds every chat ever made (NULL once answered). Once SQLite has statistics (ANALYZE,
`PRAGMA optimize`), they say that index finds the whole table per agent, so it read the
whole history once per agent per pass instead: 140 ms a pass with 20,000 ended chats
(docs/performance.md, "SQLite on the loop"). A partial index holds the offers only.

The same statistics made the sweep's "waiting too long" read (state waiting or offered,
created before a time) a read of the whole table every second; a partial index of
unanswered chats by creation holds only those.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OFFERED_ONLY = "state = 'offered'"  # fixed here: a migration never follows the models
UNANSWERED_ONLY = "state IN ('waiting', 'offered')"


def upgrade() -> None:
    op.create_index(
        "ix_chats_offered_agent",
        "chats",
        ["offered_agent_id"],
        postgresql_where=sa.text(OFFERED_ONLY),
        sqlite_where=sa.text(OFFERED_ONLY),
    )
    op.create_index(
        "ix_chats_unanswered",
        "chats",
        ["created_at"],
        postgresql_where=sa.text(UNANSWERED_ONLY),
        sqlite_where=sa.text(UNANSWERED_ONLY),
    )


def downgrade() -> None:
    op.drop_index("ix_chats_unanswered", table_name="chats")
    op.drop_index("ix_chats_offered_agent", table_name="chats")
