"""index active chats by agent

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 05:20:00

Every routing pass counts each agent's open chats; with only `chats.agent_id` indexed,
that count read every chat the agent ever had (docs/performance.md, "Routing at 100
arrivals a second"). A partial index holds the active ones only.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE_ONLY = "state = 'active'"  # fixed here: a migration never follows the models


def upgrade() -> None:
    op.create_index(
        "ix_chats_active_agent",
        "chats",
        ["agent_id"],
        postgresql_where=sa.text(ACTIVE_ONLY),
        sqlite_where=sa.text(ACTIVE_ONLY),
    )


def downgrade() -> None:
    op.drop_index("ix_chats_active_agent", table_name="chats")
