"""The contexts this build of Mercato runs: the API, the worker and the command line mount
this list. Adding a context is one line here.

Order matters for routing only: routes match in list order, and the catalog's public
reads are the hottest.
"""

from __future__ import annotations

from mercato.catalog.module import module as catalog
from mercato.identity.module import module as identity
from mercato.orders.module import module as orders
from mercato.platform.kernel import module as platform
from mercato.platform.module import Module

MODULES: tuple[Module, ...] = (catalog, platform, identity, orders)
