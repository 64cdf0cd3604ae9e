"""Catalog search vocabulary: the distinct words of product names, with a trigram index, so
that a query's misspelt words are corrected against a few thousand words instead of being
compared with every product's name (the typo path of `catalog/search.py`). Kept by
triggers on `catalog_product` (inserts, COPY included, and name changes), backfilled here.
Words are never removed: a word no product uses any more corrects to a word that matches
nothing, which costs one index probe.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A name's words are its lexemes as the search document has them (its
# `to_tsvector('simple', name)` part).
TRIGGERS = (
    # Inserts, a statement at a time: a COPY of 10,000 products adds their words in one go.
    """CREATE FUNCTION catalog_search_words_inserted() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO catalog_search_word (word)
        SELECT DISTINCT word FROM inserted,
            unnest(tsvector_to_array(to_tsvector('simple'::regconfig, inserted.name))) AS word
        ON CONFLICT DO NOTHING;
        RETURN NULL;
    END;
    $$""",
    """CREATE TRIGGER catalog_search_words_inserted
    AFTER INSERT ON catalog_product REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_search_words_inserted()""",
    # Renames only: the frequent product updates (stock, prices) do not fire it.
    """CREATE FUNCTION catalog_search_words_renamed() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO catalog_search_word (word)
        SELECT unnest(tsvector_to_array(to_tsvector('simple'::regconfig, NEW.name)))
        ON CONFLICT DO NOTHING;
        RETURN NULL;
    END;
    $$""",
    """CREATE TRIGGER catalog_search_words_renamed
    AFTER UPDATE OF name ON catalog_product
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name)
    EXECUTE FUNCTION catalog_search_words_renamed()""",
)


# The typo path's words: each word of `q` as the vocabulary has it, or else its closest
# vocabulary word by trigram similarity (`%`: at least pg_trgm.similarity_threshold, 0.3);
# words with no close word are dropped. NULL when none is left.
CORRECTED_WORDS = """CREATE FUNCTION catalog_corrected_words(q text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT string_agg(word, ' ')
    FROM (
        SELECT coalesce(
            (SELECT word FROM catalog_search_word WHERE word = typed),
            (SELECT word FROM catalog_search_word WHERE word % typed
             ORDER BY word <-> typed, word LIMIT 1)) AS word
        FROM unnest(tsvector_to_array(to_tsvector('simple'::regconfig, q))) AS typed
    ) AS words
$$"""


def upgrade() -> None:
    op.create_table(
        "catalog_search_word",
        sa.Column("word", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("word", name=op.f("pk_catalog_search_word")),
    )
    op.create_index(
        "ix_catalog_search_word_trgm",
        "catalog_search_word",
        ["word"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"word": "gin_trgm_ops"},
    )
    for statement in (*TRIGGERS, CORRECTED_WORDS):
        op.execute(statement)
    op.execute(
        "INSERT INTO catalog_search_word (word) SELECT DISTINCT word FROM catalog_product,"
        " unnest(tsvector_to_array(to_tsvector('simple'::regconfig, catalog_product.name)))"
        " AS word"
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS catalog_corrected_words(text)")
    op.execute("DROP TRIGGER IF EXISTS catalog_search_words_renamed ON catalog_product")
    op.execute("DROP TRIGGER IF EXISTS catalog_search_words_inserted ON catalog_product")
    op.execute("DROP FUNCTION IF EXISTS catalog_search_words_renamed()")
    op.execute("DROP FUNCTION IF EXISTS catalog_search_words_inserted()")
    op.drop_index("ix_catalog_search_word_trgm", table_name="catalog_search_word")
    op.drop_table("catalog_search_word")
