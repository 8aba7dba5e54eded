"""index chats by acceptance

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24 22:45:00

The desk's average wait (every 10 s, chat/hub.py) reads the chats accepted in the last
hour; with no index on `accepted_at` that read went through every chat the desk ever
had (15 ms with 20,000 chats, on the event loop on SQLite; docs/performance.md, "SQLite
on the loop").
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_chats_accepted_at", "chats", ["accepted_at"])


def downgrade() -> None:
    op.drop_index("ix_chats_accepted_at", table_name="chats")
