"""incidents: incidents and their timeline, silences, results.confirmation

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28

Types are spelled out, as in 0001: a migration describes the schema as it was.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# monitor.storage.types.Timestamp: epoch milliseconds on SQLite, timestamptz on PostgreSQL.
TIMESTAMP = sa.DateTime(timezone=True).with_variant(sa.Integer(), "sqlite")
# INTEGER on SQLite makes the key an alias of the rowid; BIGSERIAL on PostgreSQL.
ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# The unique index below keeps one row per probe among the rows this holds for.
INCIDENT_OPEN = "state <> 'resolved'"


def upgrade() -> None:
    # A constant default: existing rows get it without a table rewrite (SQLite and PostgreSQL 11+).
    op.add_column(
        "results",
        sa.Column("confirmation", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.create_table(
        "incidents",
        sa.Column("id", ROW_ID, nullable=False),
        sa.Column("probe_id", sa.Integer(), nullable=False),
        sa.Column("severity", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("opened_at", TIMESTAMP, nullable=False),
        sa.Column("acknowledged_at", TIMESTAMP, nullable=True),
        sa.Column("acknowledged_by", sa.Text(), nullable=True),
        sa.Column("resolved_at", TIMESTAMP, nullable=True),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("figures", sa.Text(), nullable=False),
        sa.Column("cause", sa.Text(), nullable=True),
        sa.Column("reopen_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("peak_failure_ratio", sa.Float(), nullable=True),
        sa.CheckConstraint(
            "state IN ('triggered', 'acknowledged', 'resolved')", name=op.f("ck_incidents_state")
        ),
        sa.CheckConstraint(
            "severity IN ('degraded', 'partial', 'major')", name=op.f("ck_incidents_severity")
        ),
        sa.ForeignKeyConstraint(
            ["probe_id"],
            ["probes.id"],
            name=op.f("fk_incidents_probe_id_probes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
    )
    op.create_index(
        "ix_incidents_one_open_per_probe",
        "incidents",
        ["probe_id"],
        unique=True,
        sqlite_where=sa.text(INCIDENT_OPEN),
        postgresql_where=sa.text(INCIDENT_OPEN),
    )
    op.create_index(
        op.f("ix_incidents_probe_id_opened_at"),
        "incidents",
        ["probe_id", "opened_at"],
        unique=False,
    )
    op.create_index(op.f("ix_incidents_opened_at"), "incidents", ["opened_at"], unique=False)
    op.create_table(
        "incident_events",
        sa.Column("id", ROW_ID, nullable=False),
        sa.Column("incident_id", ROW_ID, nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_events_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_events")),
    )
    op.create_index(
        op.f("ix_incident_events_incident_id_at"),
        "incident_events",
        ["incident_id", "at"],
        unique=False,
    )
    op.create_table(
        "silences",
        sa.Column("id", ROW_ID, nullable=False),
        sa.Column("probes", sa.JSON(), nullable=True),
        sa.Column("starts_at", TIMESTAMP, nullable=False),
        sa.Column("ends_at", TIMESTAMP, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("ended_at", TIMESTAMP, nullable=True),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_silences_ends_after_start")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_silences")),
    )
    op.create_index(op.f("ix_silences_ends_at"), "silences", ["ends_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_silences_ends_at"), table_name="silences")
    op.drop_table("silences")
    op.drop_index(op.f("ix_incident_events_incident_id_at"), table_name="incident_events")
    op.drop_table("incident_events")
    op.drop_index(op.f("ix_incidents_opened_at"), table_name="incidents")
    op.drop_index(op.f("ix_incidents_probe_id_opened_at"), table_name="incidents")
    op.drop_index("ix_incidents_one_open_per_probe", table_name="incidents")
    op.drop_table("incidents")
    # Batch: SQLite before 3.35 has no DROP COLUMN; there the table is copied without it.
    with op.batch_alter_table("results") as batch:
        batch.drop_column("confirmation")
