"""The catalog's settings (`CATALOG_*`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from mercato.platform.config import section_config


class CatalogSettings(BaseSettings):
    model_config = section_config("CATALOG_")

    # `Cache-Control: public, max-age=...` on public catalog reads (browsers, CDNs).
    public_max_age_s: int = Field(default=60, ge=0, le=86_400)
    # `make run` loads a demo catalog into an empty database on first start.
    demo_products: int = Field(default=1_000, ge=0, le=100_000)
