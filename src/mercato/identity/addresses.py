"""Email addresses normalised once, so that one mailbox is one account.

Trim, NFKC (fullwidth letters become plain ones), refuse invisible and direction-changing
characters (zero-width spaces, bidi controls: they make two addresses look alike), check the syntax
with `email-validator` without any DNS lookup on the request path, lowercase the whole
address (Mercato treats emails case-insensitively), and keep at most 254 characters.

Domains that only look like another one are refused too (UTS #39, as browsers do for IDN
hosts): a label mixing scripts (`example.com` spelt with a Cyrillic `a`, U+0430), except
the mixes a language writes (Japanese, Chinese, Korean with Latin), and a label wholly in
Cyrillic or Greek letters that all look Latin under a Latin top-level domain (`apple.com`
spelt U+0430 U+0440 U+0440 U+04CF U+0435). Messages never quote the address: they end up
in problem details.
"""

from __future__ import annotations

import unicodedata

from email_validator import EmailNotValidError, validate_email

MAX_LENGTH = 254
# Format characters (Cf) are invisible: zero-width space/joiners, bidi controls, BOM…
_INVISIBLE_CATEGORIES = {"Cf", "Cc", "Zl", "Zp"}
# Scripts a single label may mix (UTS #39 "highly restrictive"): what Japanese, Chinese and
# Korean writing uses alongside Latin letters.
_WRITING_SYSTEMS = (
    frozenset({"LATIN", "HAN", "HIRAGANA", "KATAKANA"}),
    frozenset({"LATIN", "HAN", "BOPOMOFO"}),
    frozenset({"LATIN", "HAN", "HANGUL"}),
)
# Lower-case Cyrillic and Greek letters that pass for Latin ones in most fonts.
_LATIN_LOOKALIKES = frozenset("аерсухорѕіјԁһӏԛԝүкпьοινκρυα")
_MIXED_SCRIPTS = "The domain of the email address mixes alphabets, as look-alike addresses do."
_LOOKS_LATIN = "The domain of the email address imitates another one with look-alike letters."


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
        raise InvalidEmail(_without_quotes(str(error))) from None
    normalised = validated.normalized.lower()
    if len(normalised) > MAX_LENGTH:
        raise InvalidEmail(f"The email address is longer than {MAX_LENGTH} characters.")
    refuse_look_alike_domain(normalised.rpartition("@")[2])
    return normalised


def refuse_look_alike_domain(domain: str) -> None:
    """`InvalidEmail` for a domain that passes for another one (see the module doc)."""
    *labels, tld = domain.split(".")
    for label in (*labels, tld):
        scripts = {_script_of(character) for character in label if character.isalpha()}
        if len(scripts) > 1 and not any(scripts <= system for system in _WRITING_SYSTEMS):
            raise InvalidEmail(_MIXED_SCRIPTS)
    if tld.isascii():
        for label in labels:
            letters = [character for character in label if character.isalpha()]
            if letters and not label.isascii() and all(c in _LATIN_LOOKALIKES for c in letters):
                raise InvalidEmail(_LOOKS_LATIN)


def _script_of(letter: str) -> str:
    """The script of a letter, from its Unicode name (`CYRILLIC SMALL LETTER A`): the
    standard library has no Script property, and for letters the name's first word is it."""
    name = unicodedata.name(letter, "UNKNOWN")
    if name.startswith("CJK"):
        return "HAN"
    if name.startswith("KATAKANA-HIRAGANA"):
        return "KATAKANA"
    return name.split(" ", 1)[0]


def _without_quotes(message: str) -> str:
    """email-validator's reason without the characters it quotes from the address (a
    message like "...invalid characters after the @-sign: '<'." echoes what was sent)."""
    reason = message.split(": ", 1)[0].split(" (", 1)[0].rstrip(".")
    if reason == "After Unicode normalization":
        reason = "The email address is not valid after Unicode normalization"
    return f"{reason}."
