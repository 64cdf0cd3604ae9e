"""The 3-D Secure stand-in: the page a customer is sent to (`next_action.redirect_url`).

`GET /v1/actions/{token}` shows the payment with Approve / Decline buttons (plain HTML, no
script, no external asset); `POST` takes the outcome as a form (the page) or as JSON
(`{"outcome": "approve" | "decline"}`, for tests and scripts), moves the intent on and
fires its webhook. The token in the URL is the capability, as with real ACS pages.
"""

from __future__ import annotations

import html
from urllib.parse import parse_qs

import pydantic
from fastapi import APIRouter, Request
from sqlalchemy import RowMapping, select
from starlette.responses import HTMLResponse, Response

from mercato.platform.money import CURRENCY_EXPONENTS
from mercato.sandbox.errors import SandboxError, json_response, not_found
from mercato.sandbox.runtime import RuntimeDep, SandboxRuntime
from mercato.sandbox.schema import payment_intent
from mercato.sandbox.schemas import ACTION_TOKEN, ActionIn

router = APIRouter(prefix="/v1/actions", tags=["customer"])

# The platform's API policy forbids forms; this page posts to itself and nowhere else.
_PAGE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem}"
    "button{font-size:1rem;padding:.6rem 1.2rem;margin-right:.5rem;cursor:pointer}"
    ".amount{font-size:1.6rem;font-weight:600}"
)


def _page(title: str, body: str, *, status: int = 200) -> HTMLResponse:
    document = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(
        document, status_code=status, headers={"Content-Security-Policy": _PAGE_CSP}
    )


def _amount(intent: RowMapping) -> str:
    exponent = CURRENCY_EXPONENTS.get(intent["currency"], 2)
    units, minor = divmod(intent["amount"], 10**exponent) if exponent else (intent["amount"], 0)
    figure = f"{units}.{minor:0{exponent}d}" if exponent else str(units)
    return f"{figure} {intent['currency']}"


async def _intent_for(runtime: SandboxRuntime, token: str) -> RowMapping:
    if not ACTION_TOKEN.fullmatch(token):
        raise not_found("action", param="token")
    async with runtime.engine.connect() as connection:
        result = await connection.execute(
            select(payment_intent).where(payment_intent.c.action_token == token)
        )
        intent = result.mappings().first()
    if intent is None:
        raise not_found("action", param="token")
    return intent


@router.get("/{token}", response_class=HTMLResponse)
async def show_action(token: str, runtime: RuntimeDep) -> Response:
    try:
        intent = await _intent_for(runtime, token)
    except SandboxError:
        return _page("Unknown payment", "<p>This link is not valid.</p>", status=404)
    summary = (
        f'<p class="amount">{html.escape(_amount(intent))}</p>'
        f"<p>Reference: {html.escape(intent['reference'])}</p>"
    )
    if intent["status"] != "requires_action":
        status = html.escape(intent["status"])
        return _page("Payment authentication", f"{summary}<p>Nothing to do: {status}.</p>")
    form = (
        '<form method="post"><button name="outcome" value="approve">Approve</button>'
        '<button name="outcome" value="decline">Decline</button></form>'
    )
    return _page("Payment authentication", f"{summary}<p>Sandbox 3-D Secure check.</p>{form}")


@router.post("/{token}")
async def complete_action(token: str, request: Request, runtime: RuntimeDep) -> Response:
    from_form = request.headers.get("content-type", "").startswith(
        "application/x-www-form-urlencoded"
    )
    body = await request.body()
    try:
        if from_form:
            fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=10)
            outcome = ActionIn.model_validate({"outcome": (fields.get("outcome") or [""])[0]})
        else:
            outcome = ActionIn.model_validate_json(body or b"{}")
    except pydantic.ValidationError:
        invalid = SandboxError(
            400, "parameter_invalid", "outcome must be approve or decline.", param="outcome"
        )
        if from_form:
            return _page("Payment authentication", f"<p>{invalid.message}</p>", status=400)
        raise invalid from None
    try:
        intent = await _intent_for(runtime, token)
        async with runtime.engine.begin() as connection:
            changed = await runtime.intents.complete_action(
                connection, intent["action_token"], approve=outcome.outcome == "approve"
            )
    except SandboxError as error:
        if from_form:
            return _page(
                "Payment authentication",
                f"<p>{html.escape(error.message)}</p>",
                status=error.status,
            )
        raise
    if not from_form:
        return json_response(runtime.intents.as_json(changed))
    verdict = "approved" if changed["status"] != "requires_payment_method" else "declined"
    link = ""
    if changed["return_url"]:
        back = changed["return_url"]
        back += ("&" if "?" in back else "?") + f"payment_intent={changed['id']}"
        link = f'<p><a href="{html.escape(back)}">Return to the shop</a></p>'

    return _page("Payment authentication", f"<p>Payment {verdict}.</p>{link}")
