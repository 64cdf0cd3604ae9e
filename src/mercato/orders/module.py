"""Orders as a module: carts, checkout, the saga that follows payments' events, orders."""

from __future__ import annotations

from mercato.orders.config import OrdersSettings
from mercato.platform.module import Module

module = Module(
    name="orders",
    settings=OrdersSettings,
    models=("mercato.orders.models",),
)
