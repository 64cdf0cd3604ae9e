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


@pytest.mark.parametrize(
    "look_alike",
    [
        "ada@ex\u0430mple.com",  # Latin with one Cyrillic "a"
        "ada@\u0430\u0440\u0440\u04cf\u0435.com",  # "apple" wholly in Cyrillic look-alikes
        "ada@xn--80ak6aa92e.com",  # the same, in punycode
        "ada@g\u03bf\u03bfgle.com",  # Greek omicrons among Latin letters
        "ada@mail.\u0440\u0430\u0443.com",  # any label, not only the first
    ],
)
def test_look_alike_domains_are_refused(look_alike: str) -> None:
    with pytest.raises(InvalidEmail, match="domain of the email address"):
        normalise_email(look_alike)


@pytest.mark.parametrize(
    "address",
    [
        "ada@b\u00fccher.de",  # Latin with a diacritic
        "ada@\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444",  # Cyrillic under .рф
        "ada@\u043f\u0440\u0438\u043c\u0435\u0440.com",  # Cyrillic, not all look-alikes
        "ada@\u4f8b\u3048.jp",  # Han and Hiragana: how Japanese is written
        "ada@\u03c0\u03b1\u03c1\u03ac\u03b4\u03b5\u03b9\u03b3\u03bc\u03b1.gr",  # Greek
    ],
)
def test_international_domains_in_one_writing_system_are_accepted(address: str) -> None:
    assert normalise_email(address) == address


@pytest.mark.parametrize(
    "invalid",
    ["zq<x>@example.com", "zq@exa<x>mple.com", "zq\u00e9@[300.1.1.1]", "zq@exa_mple.com"],
)
def test_refusals_never_quote_the_address(invalid: str) -> None:
    with pytest.raises(InvalidEmail) as caught:
        normalise_email(invalid)
    message = str(caught.value)
    assert not any(quoted in message for quoted in ("<", "zq", "_", "300", "\u00e9")), message


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
