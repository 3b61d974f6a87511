"""create product"""
import sqlalchemy as sa
from alembic import op

revision = "a1"
down_revision = None


def upgrade():
	op.create_table("product",
			sa.Column("id", sa.Integer, primary_key=True),
			sa.Column("name", sa.String(50), nullable=False))
