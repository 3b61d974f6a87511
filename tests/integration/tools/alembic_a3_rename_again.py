"""rename product.title to label (a later deploy)"""
import sqlalchemy as sa
from alembic import op

revision = "a3"
down_revision = "a2"


def upgrade():
	op.alter_column("product", "title", new_column_name="label",
			existing_type=sa.String(50), existing_nullable=False)
