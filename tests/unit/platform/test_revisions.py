"""The histories read without Alembic (`platform.db.revisions`) as Alembic reads them."""

from __future__ import annotations

import pytest
from alembic.script import ScriptDirectory

from mercato.payments.schema import HISTORY
from mercato.platform.db import revisions


@pytest.mark.parametrize("history", [revisions.MAIN, HISTORY], ids=["main", "payments"])
def test_the_heads_and_revisions_are_alembics(history: revisions.History) -> None:
    scripts = ScriptDirectory(str(history.location))
    assert revisions.head_revision(history) == scripts.get_current_head()
    known = {script.revision for script in scripts.walk_revisions()}
    assert revisions.revisions(history.location).known == known
    assert all(revisions.is_known_revision(revision, history=history) for revision in known)
    assert not revisions.is_known_revision("not-a-revision", history=history)
