"""Shipping addresses: validated, and sealed to their row (a copy elsewhere does not open)."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from mercato.orders.addresses import COUNTRIES, ShippingAddress, open_address, seal_address
from mercato.platform.security.fields import FieldDecryptionError, FieldKeyRing

VALID = {"name": "Ada", "line1": "12 rue des Lilas", "city": "Lyon", "postal_code": "69003"}


def test_the_country_is_an_iso_3166_code_normalised_to_upper_case() -> None:
    assert len(COUNTRIES) == 249
    assert ShippingAddress(**VALID, country=" fr ").country == "FR"
    for bad in ("XX", "FRA", "", "F\x00"):
        with pytest.raises(ValidationError):
            ShippingAddress(**VALID, country=bad)


@pytest.mark.parametrize("missing", ["name", "line1", "city", "postal_code"])
def test_required_fields_are_required_and_not_blank(missing: str) -> None:
    fields = dict(VALID, country="FR")
    del fields[missing]
    with pytest.raises(ValidationError):
        ShippingAddress(**fields)
    with pytest.raises(ValidationError):
        ShippingAddress(**(dict(VALID, country="FR") | {missing: "   "}))


@pytest.mark.parametrize("hostile", ["a\x00b", "\ud800", "x" * 201])
def test_hostile_text_is_refused(hostile: str) -> None:
    with pytest.raises(ValidationError):
        ShippingAddress(**(dict(VALID, country="FR") | {"line1": hostile}))


def test_a_sealed_address_opens_only_in_its_own_row() -> None:
    keys = FieldKeyRing.generate()
    address = ShippingAddress(**VALID, country="FR")
    row = uuid.uuid4()
    sealed = seal_address(keys, address, table="orders_order", row_id=row)

    assert "Lyon" not in str(sealed)
    assert open_address(keys, sealed, table="orders_order", row_id=row) == address
    with pytest.raises(FieldDecryptionError):
        open_address(keys, sealed, table="orders_order", row_id=uuid.uuid4())
