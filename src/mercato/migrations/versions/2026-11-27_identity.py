"""Identity: users, roles and permissions (seeded), sessions, refresh and one-time tokens,
and the append-only audit log.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


ROLES = [
    {"name": "customer", "description": "Buys things; sees only their own data", "rank": 10},
    {"name": "staff", "description": "Runs the shop: catalog and orders", "rank": 50},
    {"name": "admin", "description": "Everything, including users and roles", "rank": 100},
]
PERMISSIONS = {
    "customer": ["orders:own"],
    "staff": ["orders:own", "orders:read", "catalog:write", "users:read"],
    "admin": [
        "orders:own",
        "orders:read",
        "catalog:write",
        "users:read",
        "users:write",
        "audit:read",
    ],
}
APPEND_ONLY = (
    """CREATE FUNCTION identity_audit_log_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'identity_audit_log is append-only';
    END;
    $$""",
    """CREATE TRIGGER identity_audit_log_append_only
    BEFORE UPDATE OR DELETE ON identity_audit_log
    FOR EACH ROW EXECUTE FUNCTION identity_audit_log_append_only()""",
)


def upgrade() -> None:
    op.create_table(
        "identity_audit_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column(
            "occurred_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("action", sa.String(length=50), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("actor_user_id", sa.UUID(), nullable=True),
        sa.Column("target_user_id", sa.UUID(), nullable=True),
        sa.Column("ip", postgresql.INET(), nullable=True),
        sa.Column("user_agent", sa.String(length=500), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column(
            "details",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_audit_log")),
    )
    op.create_index(
        op.f("ix_identity_audit_log_action"), "identity_audit_log", ["action"], unique=False
    )
    op.create_index(
        op.f("ix_identity_audit_log_actor_user_id"),
        "identity_audit_log",
        ["actor_user_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_identity_audit_log_occurred_at"),
        "identity_audit_log",
        ["occurred_at"],
        unique=False,
    )
    op.create_table(
        "identity_role",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_identity_role")),
    )
    op.create_table(
        "identity_user",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("email_verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column(
            "status", sa.String(length=16), server_default=sa.text("'active'"), nullable=False
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.CheckConstraint(
            "status IN ('active', 'disabled', 'deleted')", name=op.f("ck_identity_user_status")
        ),
        sa.CheckConstraint("email = lower(email)", name=op.f("ck_identity_user_email_normalised")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_user")),
    )
    op.create_index(
        "ix_identity_user_created_at_id", "identity_user", ["created_at", "id"], unique=False
    )
    op.create_index(
        "ix_identity_user_email_trgm",
        "identity_user",
        ["email"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"email": "gin_trgm_ops"},
    )
    op.create_index(
        "ix_identity_user_name_trgm",
        "identity_user",
        ["name"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"name": "gin_trgm_ops"},
    )
    op.create_index(
        "uq_identity_user_email_live",
        "identity_user",
        ["email"],
        unique=True,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_table(
        "identity_one_time_token",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("purpose", sa.String(length=30), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "purpose IN ('verify_email', 'reset_password')",
            name=op.f("ck_identity_one_time_token_purpose"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["identity_user.id"],
            name=op.f("fk_identity_one_time_token_user_id_identity_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_one_time_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_identity_one_time_token_token_hash")),
    )
    op.create_index(
        op.f("ix_identity_one_time_token_user_id"),
        "identity_one_time_token",
        ["user_id"],
        unique=False,
    )
    op.create_table(
        "identity_role_permission",
        sa.Column("role", sa.String(length=50), nullable=False),
        sa.Column("permission", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["role"],
            ["identity_role.name"],
            name=op.f("fk_identity_role_permission_role_identity_role"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("role", "permission", name=op.f("pk_identity_role_permission")),
    )
    op.create_table(
        "identity_session",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "last_used_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("absolute_expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoke_reason", sa.String(length=50), nullable=True),
        sa.Column("user_agent", sa.String(length=500), nullable=True),
        sa.Column("ip", postgresql.INET(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["identity_user.id"],
            name=op.f("fk_identity_session_user_id_identity_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_session")),
    )
    op.create_index(
        op.f("ix_identity_session_user_id"), "identity_session", ["user_id"], unique=False
    )
    op.create_table(
        "identity_user_role",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("role", sa.String(length=50), nullable=False),
        sa.ForeignKeyConstraint(
            ["role"], ["identity_role.name"], name=op.f("fk_identity_user_role_role_identity_role")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["identity_user.id"],
            name=op.f("fk_identity_user_role_user_id_identity_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "role", name=op.f("pk_identity_user_role")),
    )
    op.create_index(
        op.f("ix_identity_user_role_role"), "identity_user_role", ["role"], unique=False
    )
    op.create_table(
        "identity_refresh_token",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("session_id", sa.UUID(), nullable=False),
        sa.Column("parent_id", sa.UUID(), nullable=True),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column(
            "issued_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replaced_by", sa.UUID(), nullable=True),
        sa.Column("successor_sealed", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["identity_session.id"],
            name=op.f("fk_identity_refresh_token_session_id_identity_session"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_refresh_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_identity_refresh_token_token_hash")),
    )
    op.create_index(
        op.f("ix_identity_refresh_token_session_id"),
        "identity_refresh_token",
        ["session_id"],
        unique=False,
    )

    roles = sa.table(
        "identity_role",
        sa.column("name", sa.String),
        sa.column("description", sa.Text),
        sa.column("rank", sa.Integer),
    )
    op.bulk_insert(roles, ROLES)
    grants = sa.table(
        "identity_role_permission", sa.column("role", sa.String), sa.column("permission", sa.String)
    )
    op.bulk_insert(
        grants,
        [
            {"role": role, "permission": p}
            for role, permissions in PERMISSIONS.items()
            for p in permissions
        ],
    )
    for statement in APPEND_ONLY:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS identity_audit_log_append_only ON identity_audit_log")
    op.execute("DROP FUNCTION IF EXISTS identity_audit_log_append_only()")
    op.drop_index(op.f("ix_identity_refresh_token_session_id"), table_name="identity_refresh_token")
    op.drop_table("identity_refresh_token")
    op.drop_index(op.f("ix_identity_user_role_role"), table_name="identity_user_role")
    op.drop_table("identity_user_role")
    op.drop_index(op.f("ix_identity_session_user_id"), table_name="identity_session")
    op.drop_table("identity_session")
    op.drop_table("identity_role_permission")
    op.drop_index(op.f("ix_identity_one_time_token_user_id"), table_name="identity_one_time_token")
    op.drop_table("identity_one_time_token")
    op.drop_index(
        "uq_identity_user_email_live",
        table_name="identity_user",
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.drop_index(
        "ix_identity_user_name_trgm",
        table_name="identity_user",
        postgresql_using="gin",
        postgresql_ops={"name": "gin_trgm_ops"},
    )
    op.drop_index(
        "ix_identity_user_email_trgm",
        table_name="identity_user",
        postgresql_using="gin",
        postgresql_ops={"email": "gin_trgm_ops"},
    )
    op.drop_index("ix_identity_user_created_at_id", table_name="identity_user")
    op.drop_table("identity_user")
    op.drop_table("identity_role")
    op.drop_index(op.f("ix_identity_audit_log_occurred_at"), table_name="identity_audit_log")
    op.drop_index(op.f("ix_identity_audit_log_actor_user_id"), table_name="identity_audit_log")
    op.drop_index(op.f("ix_identity_audit_log_action"), table_name="identity_audit_log")
    op.drop_table("identity_audit_log")
