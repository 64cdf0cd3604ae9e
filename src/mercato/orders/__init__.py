"""Orders: carts, checkout and its saga, orders and their history.

Reaches stock only through catalog's package surface (`mercato.catalog`) and payments only
through its HTTP API and its events. What other contexts may use of orders is exported here.
"""

from mercato.orders.config import OrdersSettings

__all__ = ["OrdersSettings"]
