"""Totals in integer minor units, and the tax rounding rule.

Rule (documented in docs/orders.md, tested in tests/unit/orders/test_pricing.py): prices
are net of tax; tax is charged on the subtotal plus shipping, once per order (never per
line, so a cart's tax does not depend on how it is split), at the destination country's
rate in basis points (2000 = 20 %), rounded half up to the currency's minor unit:

    tax = floor((subtotal + shipping) * rate_bp / 10 000 + 1/2)

computed in integers (`(taxable * rate_bp + 5 000) // 10 000`): no float ever touches money.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

BASIS_POINTS = 10_000


def tax_of(taxable_minor: int, rate_bp: int) -> int:
    """The tax on `taxable_minor` at `rate_bp`, rounded half up to a minor unit."""
    if taxable_minor < 0 or not 0 <= rate_bp <= BASIS_POINTS:
        raise ValueError("taxable amount and rate must be within range")
    return (taxable_minor * rate_bp + BASIS_POINTS // 2) // BASIS_POINTS


@dataclass(frozen=True, slots=True)
class Totals:
    subtotal_minor: int
    shipping_minor: int
    tax_minor: int
    tax_rate_bp: int

    @property
    def total_minor(self) -> int:
        return self.subtotal_minor + self.shipping_minor + self.tax_minor


def totals(line_totals: Iterable[int], *, shipping_minor: int, rate_bp: int) -> Totals:
    subtotal = sum(line_totals)
    return Totals(
        subtotal_minor=subtotal,
        shipping_minor=shipping_minor,
        tax_minor=tax_of(subtotal + shipping_minor, rate_bp),
        tax_rate_bp=rate_bp,
    )
