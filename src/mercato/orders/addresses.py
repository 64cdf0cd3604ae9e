"""Shipping addresses: validated (ISO 3166-1 country, required fields, bounded text) and
stored encrypted like every personal field (`platform.security.fields`: AES-256-GCM, bound
to its table, column and row). The country is also kept in clear: it picks the tax rate.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

from mercato.platform.security.fields import FieldKeyRing, FieldLocation
from mercato.platform.validation import SafeLine

# ISO 3166-1 alpha-2, the officially assigned codes.
COUNTRIES = frozenset(
    (
        "AD",
        "AE",
        "AF",
        "AG",
        "AI",
        "AL",
        "AM",
        "AO",
        "AQ",
        "AR",
        "AS",
        "AT",
        "AU",
        "AW",
        "AX",
        "AZ",
        "BA",
        "BB",
        "BD",
        "BE",
        "BF",
        "BG",
        "BH",
        "BI",
        "BJ",
        "BL",
        "BM",
        "BN",
        "BO",
        "BQ",
        "BR",
        "BS",
        "BT",
        "BV",
        "BW",
        "BY",
        "BZ",
        "CA",
        "CC",
        "CD",
        "CF",
        "CG",
        "CH",
        "CI",
        "CK",
        "CL",
        "CM",
        "CN",
        "CO",
        "CR",
        "CU",
        "CV",
        "CW",
        "CX",
        "CY",
        "CZ",
        "DE",
        "DJ",
        "DK",
        "DM",
        "DO",
        "DZ",
        "EC",
        "EE",
        "EG",
        "EH",
        "ER",
        "ES",
        "ET",
        "FI",
        "FJ",
        "FK",
        "FM",
        "FO",
        "FR",
        "GA",
        "GB",
        "GD",
        "GE",
        "GF",
        "GG",
        "GH",
        "GI",
        "GL",
        "GM",
        "GN",
        "GP",
        "GQ",
        "GR",
        "GS",
        "GT",
        "GU",
        "GW",
        "GY",
        "HK",
        "HM",
        "HN",
        "HR",
        "HT",
        "HU",
        "ID",
        "IE",
        "IL",
        "IM",
        "IN",
        "IO",
        "IQ",
        "IR",
        "IS",
        "IT",
        "JE",
        "JM",
        "JO",
        "JP",
        "KE",
        "KG",
        "KH",
        "KI",
        "KM",
        "KN",
        "KP",
        "KR",
        "KW",
        "KY",
        "KZ",
        "LA",
        "LB",
        "LC",
        "LI",
        "LK",
        "LR",
        "LS",
        "LT",
        "LU",
        "LV",
        "LY",
        "MA",
        "MC",
        "MD",
        "ME",
        "MF",
        "MG",
        "MH",
        "MK",
        "ML",
        "MM",
        "MN",
        "MO",
        "MP",
        "MQ",
        "MR",
        "MS",
        "MT",
        "MU",
        "MV",
        "MW",
        "MX",
        "MY",
        "MZ",
        "NA",
        "NC",
        "NE",
        "NF",
        "NG",
        "NI",
        "NL",
        "NO",
        "NP",
        "NR",
        "NU",
        "NZ",
        "OM",
        "PA",
        "PE",
        "PF",
        "PG",
        "PH",
        "PK",
        "PL",
        "PM",
        "PN",
        "PR",
        "PS",
        "PT",
        "PW",
        "PY",
        "QA",
        "RE",
        "RO",
        "RS",
        "RU",
        "RW",
        "SA",
        "SB",
        "SC",
        "SD",
        "SE",
        "SG",
        "SH",
        "SI",
        "SJ",
        "SK",
        "SL",
        "SM",
        "SN",
        "SO",
        "SR",
        "SS",
        "ST",
        "SV",
        "SX",
        "SY",
        "SZ",
        "TC",
        "TD",
        "TF",
        "TG",
        "TH",
        "TJ",
        "TK",
        "TL",
        "TM",
        "TN",
        "TO",
        "TR",
        "TT",
        "TV",
        "TW",
        "TZ",
        "UA",
        "UG",
        "UM",
        "US",
        "UY",
        "UZ",
        "VA",
        "VC",
        "VE",
        "VG",
        "VI",
        "VN",
        "VU",
        "WF",
        "WS",
        "YE",
        "YT",
        "ZA",
        "ZM",
        "ZW",
    )
)
ADDRESS_COLUMN = "shipping_address_encrypted"

Line = Annotated[SafeLine, Field(min_length=1, max_length=200)]
OptionalLine = Annotated[SafeLine, Field(max_length=200)]


class ShippingAddress(BaseModel):
    """Where an order goes. Every field but `line2`, `region` and `phone` is required."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    name: Line
    line1: Line
    line2: OptionalLine | None = None
    city: Annotated[SafeLine, Field(min_length=1, max_length=100)]
    region: Annotated[SafeLine, Field(max_length=100)] | None = None
    postal_code: Annotated[SafeLine, Field(min_length=1, max_length=20)]
    country: str = Field(min_length=2, max_length=2, examples=["FR"])
    phone: Annotated[SafeLine, Field(max_length=40)] | None = None

    @field_validator("country", mode="before")
    @classmethod
    def _country(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().upper() in COUNTRIES:
            return value.strip().upper()
        raise ValueError("not an ISO 3166-1 alpha-2 country code")


def seal_address(
    keys: FieldKeyRing, address: ShippingAddress, *, table: str, row_id: uuid.UUID
) -> dict[str, Any]:
    plaintext = orjson.dumps(address.model_dump(mode="json")).decode()
    return keys.encrypt(plaintext, location=FieldLocation(table, ADDRESS_COLUMN, row_id))


def open_address(
    keys: FieldKeyRing, stored: dict[str, Any], *, table: str, row_id: uuid.UUID
) -> ShippingAddress:
    """The stored address; `FieldDecryptionError` (never a made-up value) if it cannot be read."""
    plaintext = keys.decrypt(stored, location=FieldLocation(table, ADDRESS_COLUMN, row_id))
    return ShippingAddress.model_validate_json(plaintext)


def reseal_address(
    keys: FieldKeyRing, stored: dict[str, Any], *, table: str, row_id: uuid.UUID
) -> dict[str, Any]:
    """The same address under the ring's current key (after a rotation)."""
    location = FieldLocation(table, ADDRESS_COLUMN, row_id)
    return keys.encrypt(keys.decrypt(stored, location=location), location=location)
