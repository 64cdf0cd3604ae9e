"""Orders' domain errors (each maps to one problem type)."""

from __future__ import annotations

from mercato.platform import errors


class OrderNotFound(errors.NotFound):
    code = "order-not-found"
    title = "No such order"


class IllegalTransition(errors.Conflict):
    code = "illegal-order-transition"
    title = "The order cannot make this change in its current status"


class CartNotFound(errors.NotFound):
    code = "cart-not-found"
    title = "No such cart"


class CartLineNotFound(errors.NotFound):
    code = "cart-line-not-found"
    title = "The cart has no line for this variant"


class VariantNotSellable(errors.Invalid):
    code = "variant-not-sellable"
    title = "This variant cannot be bought in this currency"


class CartCurrencyMismatch(errors.Conflict):
    code = "cart-currency-mismatch"
    title = "A cart holds one currency"


class CartFull(errors.Invalid):
    code = "cart-full"
    title = "The cart has as many lines as it may hold"


class CartEmpty(errors.Conflict):
    code = "cart-empty"
    title = "The cart is empty"


class TooManyPendingOrders(errors.Conflict):
    code = "too-many-pending-orders"
    title = "Too many orders are waiting for payment"


class CartNotReady(errors.Conflict):
    code = "cart-not-ready"
    title = "The cart needs a shipping address and a shipping method"


class CartChanged(errors.Conflict):
    code = "cart-changed"
    title = "A price or an availability changed since it was added: review the cart"


class ShippingMethodNotFound(errors.NotFound):
    code = "shipping-method-not-found"
    title = "No such shipping method"


class ShippingNotAvailable(errors.Invalid):
    code = "shipping-not-available"
    title = "This shipping method has no price in the cart's currency"


class DuplicateShippingMethod(errors.Conflict):
    code = "duplicate-shipping-method"
    title = "A shipping method already has this code"


class NoTaxRate(errors.Invalid):
    code = "no-tax-rate"
    title = "Mercato does not ship to this country (no tax rate is set for it)"


class RefundTooLarge(errors.Conflict):
    code = "refund-too-large"
    title = "The refund is more than what is left to refund"


class RefundRefused(errors.Conflict):
    code = "refund-refused"
    title = "The payments service refused the refund"


class PaymentsUnavailable(errors.Unavailable):
    code = "payments-unavailable"
    title = "The payments service cannot be reached right now"


class NotEnoughStock(errors.Conflict):
    code = "not-enough-stock"
    title = "Not that many units of this variant are available"


class QuantityTooLarge(errors.Invalid):
    code = "quantity-too-large"
    title = "A cart line holds at most the configured quantity"


class CurrencyRequired(errors.Invalid):
    code = "currency-required"
    title = "The first line of a cart names the cart's currency"
