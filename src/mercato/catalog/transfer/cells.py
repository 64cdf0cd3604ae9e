"""Reading one cell of a catalog file: text that PostgreSQL can store, integers in range,
booleans as spreadsheets write them. Each reader raises `CellError` with a message that
never repeats the cell's content (a token pasted in the wrong column stays out of logs)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from mercato.catalog.schemas import normalise_tag
from mercato.platform.validation import INT32_MAX, is_safe_text

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_INTEGER = re.compile(r"^[+-]?\d{1,12}(?:\.0*)?$")
MAX_URL_LENGTH = 2_048
# The columns' sizes (catalog.models): option names and values, tags, types, alt texts.
MAX_OPTION_TEXT = 64
MAX_TAG = 64
MAX_TAGS = 50
MAX_TYPE = 120
MAX_ALT = 512


class CellError(ValueError):
    pass


def line_text(value: str, *, max_length: int) -> str:
    """Single-line text, trimmed: no control characters, NUL or lone surrogates."""
    value = value.strip()
    if _CONTROL.search(value):
        raise CellError("contains control characters, NUL or unpaired surrogates")
    if len(value) > max_length:
        raise CellError(f"longer than {max_length} characters")
    return value


def free_text(value: str, *, max_length: int) -> str:
    """Multi-line text (descriptions): no NUL or lone surrogates."""
    if not is_safe_text(value):
        raise CellError("contains NUL characters or unpaired surrogates")
    if len(value) > max_length:
        raise CellError(f"longer than {max_length} characters")
    return value


def integer(value: str, *, low: int = 0, high: int = INT32_MAX) -> int:
    """A whole number (`12`, `12.0` as spreadsheets write it) between `low` and `high`."""
    if _INTEGER.match(value.strip()) is None:
        raise CellError("not a whole number")
    number = int(value.strip().split(".")[0])
    if not low <= number <= high:
        raise CellError(f"must be between {low} and {high}")
    return number


def boolean(value: str) -> bool:
    folded = value.strip().casefold()
    if folded in ("true", "yes", "1"):
        return True
    if folded in ("false", "no", "0"):
        return False
    raise CellError("not TRUE or FALSE")


def image_url(value: str) -> str:
    """An absolute http(s) URL with a host, no credentials and no spaces. Whether it may
    be used (https, or under the configured media base) is the catalog's rule, applied by
    the import (`images.checked_image_url`), as by the admin API."""
    url = line_text(value, max_length=MAX_URL_LENGTH)
    try:
        parts = urlsplit(url)
        fine = (
            parts.scheme in ("http", "https")
            and bool(parts.hostname)
            and parts.username is None
            and " " not in url
        )
    except ValueError:
        fine = False
    if not fine:
        raise CellError("not an absolute URL (https://…)")
    return url


def option_text(value: str) -> str:
    return line_text(value, max_length=MAX_OPTION_TEXT)


def product_type(value: str) -> str:
    return line_text(value, max_length=MAX_TYPE)


def alt_text(value: str) -> str:
    return line_text(value, max_length=MAX_ALT)


def tags(value: str) -> list[str]:
    """A comma-separated tag list, normalised as the catalog stores tags, without repeats;
    at most `MAX_TAGS`."""
    found: list[str] = []
    for part in line_text(value, max_length=MAX_TAGS * (MAX_TAG + 2)).split(","):
        if not part.strip():
            continue
        try:
            tag = normalise_tag(part)
        except ValueError as error:
            raise CellError(str(error)) from None
        if tag not in found:
            found.append(tag)
    if len(found) > MAX_TAGS:
        raise CellError(f"more than {MAX_TAGS} tags")
    return found
