"""initial: probes and their results

Revision ID: 0001
Revises:
Create Date: 2026-11-28

Hand-checked against the models (tests/test_migrations.py compares them on SQLite and
PostgreSQL). Types are spelled out here rather than imported from monitor.storage.types: a
migration describes the schema as it was, and must not change when the models do.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# monitor.storage.types.Timestamp: epoch milliseconds on SQLite, timestamptz on PostgreSQL.
TIMESTAMP = sa.DateTime(timezone=True).with_variant(sa.Integer(), "sqlite")
# INTEGER on SQLite makes the key an alias of the rowid; BIGSERIAL on PostgreSQL.
ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "probes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("group", sa.Text(), nullable=False),
        sa.Column("config_hash", sa.Text(), nullable=True),
        sa.Column("first_seen", TIMESTAMP, nullable=False),
        sa.Column("last_seen", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_probes")),
        sa.UniqueConstraint("name", name=op.f("uq_probes_name")),
    )
    op.create_table(
        "results",
        sa.Column("id", ROW_ID, nullable=False),
        sa.Column("probe_id", sa.Integer(), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("due_at", TIMESTAMP, nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("status", sa.SmallInteger(), nullable=True),
        sa.Column("error_kind", sa.Text(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("failed_step", sa.Text(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["probe_id"],
            ["probes.id"],
            name=op.f("fk_results_probe_id_probes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_results")),
    )
    op.create_index(
        op.f("ix_results_probe_id_started_at"), "results", ["probe_id", "started_at"], unique=False
    )
    op.create_index(op.f("ix_results_started_at"), "results", ["started_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_results_started_at"), table_name="results")
    op.drop_index(op.f("ix_results_probe_id_started_at"), table_name="results")
    op.drop_table("results")
    op.drop_table("probes")
