"""The catalog's settings (`CATALOG_*`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from mercato.platform.config import Settings, section_config


class CatalogSettings(BaseSettings):
    model_config = section_config("CATALOG_")

    # `Cache-Control: public, max-age=...` on public catalog reads (browsers, CDNs).
    public_max_age_s: int = Field(default=60, ge=0, le=86_400)
    # Prices shown when a read names no `currency` (the from-price, variant prices).
    default_currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    # Public product pages say whether a variant is available; the exact units only when
    # this is on (competitors read counts; most shops keep them private).
    expose_stock_counts: bool = False
    # Image URLs must be https, or start with this base (a local media server in
    # development, e.g. http://localhost:8000/media/).
    media_base_url: str | None = Field(default=None, max_length=500)
    # `make run` loads a demo catalog into an empty database on first start.
    demo_products: int = Field(default=1_000, ge=0, le=100_000)


def stock_counts_exposed(settings: Settings) -> bool:
    """Whether customers may learn exact stock counts (`CATALOG_EXPOSE_STOCK_COUNTS`):
    orders' carts hide them the same way the product pages do."""
    return settings.section(CatalogSettings).expose_stock_counts
