"""Amounts in order mails are written with their currency's exponent, never a float."""

from __future__ import annotations

import pytest

from mercato.orders.mail_templates import format_amount


@pytest.mark.parametrize(
    ("minor", "currency", "shown"),
    [
        (2500, "EUR", "25.00 EUR"),
        (5, "EUR", "0.05 EUR"),
        (123456789, "USD", "1,234,567.89 USD"),
        (1500, "JPY", "1,500 JPY"),
        (1005, "BHD", "1.005 BHD"),
        (-490, "EUR", "-4.90 EUR"),
        (10**12, "EUR", "10,000,000,000.00 EUR"),
    ],
)
def test_amounts_follow_the_currency_exponent(minor: int, currency: str, shown: str) -> None:
    assert format_amount(minor, currency) == shown
