"""Money is an integer of minor units plus an ISO 4217 currency; never a float."""

from __future__ import annotations

# ISO 4217 minor-unit exponents of the currencies Mercato accepts (extend deliberately:
# payments and tax code rely on the exponent being right).
CURRENCY_EXPONENTS: dict[str, int] = {
    "AUD": 2,
    "BHD": 3,
    "BRL": 2,
    "CAD": 2,
    "CHF": 2,
    "CNY": 2,
    "CZK": 2,
    "DKK": 2,
    "EUR": 2,
    "GBP": 2,
    "HKD": 2,
    "INR": 2,
    "JPY": 0,
    "KRW": 0,
    "KWD": 3,
    "MXN": 2,
    "NOK": 2,
    "NZD": 2,
    "PLN": 2,
    "SEK": 2,
    "SGD": 2,
    "USD": 2,
    "ZAR": 2,
}
MAX_MINOR_UNITS = 10**12  # a trillion minor units: far above any catalog price


def is_known_currency(code: str) -> bool:
    return code in CURRENCY_EXPONENTS
