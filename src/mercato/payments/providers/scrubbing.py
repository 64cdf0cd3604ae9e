"""Provider texts (error and decline messages) made safe to keep in logs, rows and errors.

A provider's message is written for a developer and may echo what it was sent: a masked
API key, a client secret, a card number a customer typed in the wrong field. Adapters pass
every such text through `scrub_provider_text` before it leaves them.
"""

from __future__ import annotations

import re

REDACTED = "[redacted]"
_SECRETS = re.compile(
    r"\b(?:sk|rk|pk)_(?:test|live)_[A-Za-z0-9*]+"  # API keys, even partly masked
    r"|\bwhsec_[A-Za-z0-9+/=_-]+"  # webhook signing secrets
    r"|\b[A-Za-z]+_[A-Za-z0-9]+_secret_[A-Za-z0-9]+"  # client secrets (pi_..._secret_...)
    r"|\b(?:\d[ -]?){12,18}\d\b"  # anything shaped like a card number (12-19 digits)
)
MAX_TEXT = 300


def scrub_provider_text(text: str | None) -> str:
    """The text without anything secret-looking, cut to a bounded length."""
    if not text:
        return ""
    return _SECRETS.sub(REDACTED, text)[:MAX_TEXT]
