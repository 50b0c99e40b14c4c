"""results.started_at indexed by BRIN on PostgreSQL (a tenth of the storage per probe-year)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07

Results arrive in time order, so a block range index answers "results since T" and retention's
"results before T" from a few kilobytes, where the B-tree took 0.86 MB per probe-year (of 8.6 in
all; benchmarks/storage.py). SQLite has no BRIN and keeps its B-tree.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_results_started_at", table_name="results")
    op.create_index("ix_results_started_at", "results", ["started_at"], postgresql_using="brin")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_results_started_at", table_name="results")
    op.create_index("ix_results_started_at", "results", ["started_at"])
