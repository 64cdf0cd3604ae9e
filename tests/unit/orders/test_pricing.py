"""Totals and the tax rounding rule (docs/orders.md): tax once per order on subtotal plus
shipping, half up to the minor unit, integers only."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mercato.orders.pricing import tax_of, totals


@pytest.mark.parametrize(
    ("taxable", "rate_bp", "tax"),
    [
        (6497, 2000, 1299),  # 1299.4 → down
        (2, 2500, 1),  # 0.5 → up (half up, not to even)
        (6, 2500, 2),  # 1.5 → up
        (1, 4999, 0),  # 0.4999 → down
        (1, 5000, 1),  # 0.5 → up
        (0, 2000, 0),
        (12345, 0, 0),
        (12345, 10000, 12345),
        (10**12, 2000, 2 * 10**11),  # the largest amounts stay exact (no float)
    ],
)
def test_tax_is_rounded_half_up_to_the_minor_unit(taxable: int, rate_bp: int, tax: int) -> None:
    assert tax_of(taxable, rate_bp) == tax


@pytest.mark.parametrize(("taxable", "rate_bp"), [(-1, 2000), (100, -1), (100, 10001)])
def test_out_of_range_inputs_are_refused(taxable: int, rate_bp: int) -> None:
    with pytest.raises(ValueError, match="range"):
        tax_of(taxable, rate_bp)


def test_tax_is_charged_once_on_subtotal_plus_shipping_not_per_line() -> None:
    # Per line, three 0.5 taxes would round up to 3; once on the whole it is 2.
    result = totals([2, 2, 2], shipping_minor=0, rate_bp=2500)
    assert (result.subtotal_minor, result.tax_minor, result.total_minor) == (6, 2, 8)
    with_shipping = totals([5997], shipping_minor=500, rate_bp=2000)
    assert (with_shipping.tax_minor, with_shipping.total_minor) == (1299, 7796)


@given(st.integers(0, 10**12), st.integers(0, 10_000))
def test_tax_is_the_nearest_minor_unit_ties_up(taxable: int, rate_bp: int) -> None:
    tax = tax_of(taxable, rate_bp)
    exact_times_2 = 2 * taxable * rate_bp  # 2 * 10000 * the exact tax, in integers
    assert 2 * 10_000 * tax - 10_000 <= exact_times_2 < 2 * 10_000 * tax + 10_000
