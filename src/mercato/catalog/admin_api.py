"""Catalog administration (permission `catalog:write`): products with their options,
variants, prices, images and stock; categories.

Creating routes accept Idempotency-Key; changing and deleting routes need the version
they change (If-Match with the ETag, or `version`): a variant's own for the variant, its
prices and nothing else; the product's for the product, its options and images.
"""

from __future__ import annotations

from fastapi import APIRouter

from mercato.catalog import admin_categories, admin_product_parts, admin_products, admin_stock

router = APIRouter()
# In this order in the OpenAPI document: products and variants, stock, options and images,
# categories.
for part in (admin_products, admin_stock, admin_product_parts, admin_categories):
    router.include_router(part.router)
