"""Prices as files write them (`12.50`) and as Mercato stores them (1250 minor units)."""

from __future__ import annotations

import re

from mercato.platform.money import CURRENCY_EXPONENTS, MAX_MINOR_UNITS

_DECIMAL = re.compile(r"^(\d{1,15})(?:\.(\d*))?$")


class PriceError(ValueError):
    pass


def minor_units(text: str, currency: str) -> int:
    """`text` (digits, an optional point and at most the currency's decimals) in minor
    units. No floats: `19.99` is read digit by digit. Thousands separators, decimal
    commas, signs and symbols are refused rather than guessed."""
    match = _DECIMAL.match(text.strip())
    if match is None:
        raise PriceError("not a price: digits with an optional decimal point, e.g. 12.50")
    exponent = CURRENCY_EXPONENTS[currency]
    whole, fraction = match.group(1), (match.group(2) or "").rstrip("0")
    if len(fraction) > exponent:
        raise PriceError(f"{currency} has {exponent} decimal(s); this price has more")
    scale: int = 10**exponent
    value = int(whole) * scale + int(fraction.ljust(exponent, "0") or "0")
    if value > MAX_MINOR_UNITS:
        raise PriceError("price too large")
    return value


def decimal_text(minor: int, currency: str) -> str:
    """`minor` units as a decimal price in `currency` (`1250`, EUR → `12.50`)."""
    exponent = CURRENCY_EXPONENTS[currency]
    if exponent == 0:
        return str(minor)
    scale: int = 10**exponent
    whole, fraction = divmod(minor, scale)
    return f"{whole}.{fraction:0{exponent}d}"
