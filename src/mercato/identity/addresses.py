"""Email addresses normalised once, so that one mailbox is one account.

Trim, NFKC (fullwidth letters become plain ones), refuse invisible and direction-changing
characters (zero-width spaces, bidi controls: they make two addresses look alike), check the syntax
with `email-validator` without any DNS lookup on the request path, lowercase the whole
address (Mercato treats emails case-insensitively), and keep at most 254 characters.
"""

from __future__ import annotations

import unicodedata

from email_validator import EmailNotValidError, validate_email

MAX_LENGTH = 254
# Format characters (Cf) are invisible: zero-width space/joiners, bidi controls, BOM…
_INVISIBLE_CATEGORIES = {"Cf", "Cc", "Zl", "Zp"}


class InvalidEmail(ValueError):
    """Not an address we accept; the message is safe to show to the user."""


def normalise_email(raw: str) -> str:
    candidate = unicodedata.normalize("NFKC", raw.strip())
    if any(unicodedata.category(character) in _INVISIBLE_CATEGORIES for character in candidate):
        raise InvalidEmail("The email address contains invisible or control characters.")
    if len(candidate) > MAX_LENGTH:
        raise InvalidEmail(f"The email address is longer than {MAX_LENGTH} characters.")
    try:
        validated = validate_email(candidate, check_deliverability=False)
    except EmailNotValidError as error:
        raise InvalidEmail(str(error)) from None
    normalised = validated.normalized.lower()
    if len(normalised) > MAX_LENGTH:
        raise InvalidEmail(f"The email address is longer than {MAX_LENGTH} characters.")
    return normalised
