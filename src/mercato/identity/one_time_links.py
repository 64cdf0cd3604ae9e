"""Single-use links (verify an address, reset a password): a token for one purpose.

The token goes into the mail only (`link_mails` issues it inside the job that mails it);
the database keeps its SHA-256 with the purpose, the user, the address it was sent to and
its expiry. Issuing one voids the user's older ones of the same purpose.
"""

from __future__ import annotations

from typing import Final

VERIFY_EMAIL: Final = "verify_email"
RESET_PASSWORD: Final = "reset_password"  # noqa: S105 - a token purpose, not a password
