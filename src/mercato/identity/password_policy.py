"""The password policy of NIST SP 800-63B and OWASP ASVS: length, not composition.

8 to 128 characters (counted as Unicode code points after NFKC normalisation, so that
visually identical inputs are the same password), no truncation, any characters; refused
when it is one of the ~20,000 most common passwords or contains the email's local part.
"""

from __future__ import annotations

import gzip
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

MIN_LENGTH = 8
MAX_LENGTH = 128
_SHORT_LOCAL_PART = 3  # "ab@x.com": too short a local part to be a meaningful match


@dataclass(frozen=True, slots=True)
class PasswordProblem:
    code: str
    detail: str


@cache
def common_passwords() -> frozenset[str]:
    data = files("mercato.identity").joinpath("data/common-passwords.txt.gz").read_bytes()
    return frozenset(gzip.decompress(data).decode().split())


def normalise_password(password: str) -> str:
    """NFKC, as for emails: "pass" typed in fullwidth letters is the same password."""
    return unicodedata.normalize("NFKC", password)


def password_problems(password: str, *, email: str | None = None) -> list[PasswordProblem]:
    """Everything wrong with a candidate password (empty when acceptable)."""
    candidate = normalise_password(password)
    problems = []
    if len(candidate) < MIN_LENGTH:
        problems.append(PasswordProblem("too_short", f"Use at least {MIN_LENGTH} characters."))
    if len(candidate) > MAX_LENGTH:
        problems.append(PasswordProblem("too_long", f"Use at most {MAX_LENGTH} characters."))
    if candidate.lower() in common_passwords():
        problems.append(
            PasswordProblem("too_common", "This password is among the most common ones.")
        )
    if email is not None:
        local_part = email.split("@", 1)[0].lower()
        if len(local_part) >= _SHORT_LOCAL_PART and local_part in candidate.lower():
            problems.append(
                PasswordProblem("contains_email", "The password must not contain your email.")
            )
    return problems
