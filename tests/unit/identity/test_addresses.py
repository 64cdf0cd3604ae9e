"""One mailbox, one normalised address: case, width and invisible characters."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mercato.identity.addresses import InvalidEmail, normalise_email


@pytest.mark.parametrize(
    "variant",
    ["ada@example.com", "  Ada@Example.COM ", "\uff41da@example.com", "ADA@EXAMPLE.COM"],
)
def test_variants_of_one_address_normalise_to_the_same_value(variant: str) -> None:
    assert normalise_email(variant) == "ada@example.com"


@pytest.mark.parametrize(
    "hostile",
    [
        "a\u200bda@example.com",  # zero-width space
        "ada\u202e@example.com",  # right-to-left override
        "ada@exa\u2060mple.com",  # word joiner
        "\ufeffada@example.com",  # byte order mark
        "ada\n@example.com",
    ],
)
def test_invisible_and_control_characters_are_refused(hostile: str) -> None:
    with pytest.raises(InvalidEmail, match="invisible or control"):
        normalise_email(hostile)


@pytest.mark.parametrize(
    "invalid", ["", "ada", "ada@", "@example.com", "ada@@example.com", "ada@example", "a b@x.com"]
)
def test_malformed_addresses_are_refused(invalid: str) -> None:
    with pytest.raises(InvalidEmail):
        normalise_email(invalid)


def test_addresses_over_254_characters_are_refused() -> None:
    long_address = ("a" * 64) + "@" + ".".join(["b" * 60] * 4) + ".com"
    assert len(long_address) > 254
    with pytest.raises(InvalidEmail):
        normalise_email(long_address)


def test_no_dns_lookup_is_made() -> None:
    # A domain that does not exist passes on syntax alone: no network on the request path.
    address = "x@no-such-domain-mercato-test.example"
    assert normalise_email(address) == address


@settings(deadline=None)  # a slow CI machine must not fail a property
@given(st.emails())
def test_normalisation_is_idempotent(address: str) -> None:
    try:
        once = normalise_email(address)
    except InvalidEmail:
        return
    assert normalise_email(once) == once
    assert once == once.lower()
