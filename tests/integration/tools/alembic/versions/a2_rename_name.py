"""rename product.name to title, add a required column"""
import sqlalchemy as sa
from alembic import op

revision = "a2"
down_revision = "a1"


def upgrade():
	op.alter_column("product", "name", new_column_name="title",
			existing_type=sa.String(50), existing_nullable=False)
	op.add_column("product", sa.Column("sku", sa.String(20), nullable=False))
