"""revisions and status cache

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pmohub.aggregator.store.models

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "revisions",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("rev", sa.BigInteger(), nullable=False),
        sa.Column(
            "changed_at", pmohub.aggregator.store.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_revisions")),
    )
    op.create_table(
        "status_cache",
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column(
            "computed_at", pmohub.aggregator.store.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("projects", sa.Text(), nullable=False),
        sa.Column("programmes", sa.Text(), nullable=False),
        sa.Column("portfolios", sa.Text(), nullable=False),
        sa.Column("notes", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("as_of", name=op.f("pk_status_cache")),
    )


def downgrade() -> None:
    op.drop_table("status_cache")
    op.drop_table("revisions")
