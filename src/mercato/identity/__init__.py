"""Identity: users, credentials, sessions, roles.

What other contexts may use of it (its package surface; import-linter keeps them out of its
modules): `contact_email` and `accounts_with_email` (`identity.contacts`), loaded on first
use so that importing the package stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mercato.identity.contacts import accounts_with_email, contact_email

__all__ = ["accounts_with_email", "contact_email"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("mercato.identity.contacts"), name)
    raise AttributeError(name)
