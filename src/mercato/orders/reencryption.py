"""Shipping addresses re-encrypted under the current field key after a rotation (`mercato
keys rotate --fields` rotates the ring orders shares with identity): a daily job, in
batches, each row under its lock; an old key may leave the ring once no value needs it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from mercato.orders.addresses import reseal_address
from mercato.orders.models import Cart, Order
from mercato.orders.saga import UowFactory
from mercato.platform.security.fields import FieldKeyRing


async def reencrypt_addresses(
    uow_factory: UowFactory, keys: FieldKeyRing, *, batch: int = 500
) -> int:
    """Rewrite every address not under `keys.current`; returns how many were."""
    rewritten = 0
    for model in (Cart, Order):
        while True:
            done = await _batch(uow_factory, keys, model, batch=batch)
            rewritten += done
            if done < batch:
                break
    return rewritten


async def _batch(
    uow_factory: UowFactory, keys: FieldKeyRing, model: type[Cart] | type[Order], *, batch: int
) -> int:
    column: Any = model.shipping_address_encrypted
    async with uow_factory() as uow:
        rows: list[Cart | Order] = list(
            await uow.session.scalars(
                select(model)
                .where(column.isnot(None), column["kid"].astext != keys.current)
                .limit(batch)
                .with_for_update(skip_locked=True)
            )
        )
        for row in rows:
            assert row.shipping_address_encrypted is not None
            row.shipping_address_encrypted = reseal_address(
                keys, row.shipping_address_encrypted, table=model.__tablename__, row_id=row.id
            )
        await uow.commit()
    return len(rows)
