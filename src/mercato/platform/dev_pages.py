"""Development pages: the links in identity's mails work in a browser without a frontend.

Mounted with the other development routes (MERCATO_ENV=development only, `dev_api`). Each
page is a small form whose script calls the API on the same origin (verify an address,
choose a new password, ask for a reset link, sign in) and shows the answer, or the
problem's detail. A production frontend serves the same paths (`IDENTITY_FRONTEND_URL`).

The pages render nothing from the request: the token is read from the address by the
script, and answers are shown as text (`textContent`), never as HTML. Each response
carries its own Content-Security-Policy: only its own nonce'd script and style run, and
only same-origin requests are made.
"""

from __future__ import annotations

import html
import json
import re
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from mercato.platform.auth import public

_LINK = re.compile(r"https?://[^\s<>\"']+")


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    label: str
    kind: str  # the input's type: email, password


@dataclass(frozen=True, slots=True)
class Page:
    """A page that sends its form to `endpoint`, with the values named in `from_address`
    taken from the page's query string (the token a mailed link carries)."""

    title: str
    intro: str
    endpoint: str
    button: str
    done: str
    fields: Sequence[Field] = ()
    from_address: tuple[str, ...] = ()


PAGES = {
    "verify-email": Page(
        title="Confirm your email address",
        intro="The link in your mail brought you here; confirm to finish.",
        endpoint="/api/v1/auth/verify-email",
        button="Confirm my address",
        done="Your address is confirmed.",
        from_address=("token",),
    ),
    "reset-password": Page(
        title="Choose a new password",
        intro="Every session of the account is signed out once it is changed.",
        endpoint="/api/v1/auth/password/reset",
        button="Set the new password",
        done="Your password is changed; sign in with it.",
        fields=(Field("new_password", "New password", "password"),),
        from_address=("token",),
    ),
    "forgot-password": Page(
        title="Forgot your password?",
        intro="A link to choose a new one is mailed (see the development mailbox).",
        endpoint="/api/v1/auth/password/forgot",
        button="Mail me a link",
        done="If the address has an account, the mail is on its way.",
        fields=(Field("email", "Email", "email"),),
    ),
    "login": Page(
        title="Sign in",
        intro="Signs in against the API and shows the access token (for /docs: Authorize).",
        endpoint="/api/v1/auth/login",
        button="Sign in",
        done="Signed in. Your access token:",
        fields=(Field("email", "Email", "email"), Field("password", "Password", "password")),
        from_address=("device_token",),
    ),
}

_STYLE = """
body { font: 16px/1.5 system-ui, sans-serif; margin: 0; background: #f6f6f4; color: #222; }
main { max-width: 44rem; margin: 2rem auto; padding: 1.5rem 2rem; background: #fff;
       border: 1px solid #ddd; border-radius: 8px; }
label { display: block; margin: .75rem 0 .25rem; }
input { width: 100%; padding: .5rem; box-sizing: border-box; }
button { margin-top: 1rem; padding: .5rem 1rem; }
.note { color: #666; font-size: .9rem; }
#result { white-space: pre-wrap; overflow-wrap: anywhere; }
.mail { border-top: 1px solid #ddd; padding: .75rem 0; }
.mail pre { white-space: pre-wrap; overflow-wrap: anywhere; margin: .5rem 0 0; }
"""

_SCRIPT = """
const page = %s;
const form = document.getElementById("step");
const result = document.getElementById("result");
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = Object.fromEntries(new FormData(form));
  const address = new URLSearchParams(location.search);
  for (const name of page.from_address) {
    if (address.has(name)) body[name] = address.get(name);
  }
  result.textContent = "…";
  try {
    const response = await fetch(page.endpoint, {
      method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body),
    });
    const answer = response.status === 204 ? {} : await response.json();
    if (response.ok) {
      result.textContent = page.done + (answer.access_token ? "\\n" + answer.access_token : "");
    } else {
      const fields = (answer.errors || []).map((e) => `\\n${e.pointer}: ${e.detail}`).join("");
      const said = answer.detail && answer.detail !== answer.title ? `: ${answer.detail}` : "";
      result.textContent = `${answer.title}${said}${fields}`;
    }
  } catch (error) {
    result.textContent = `The API did not answer: ${error}`;
  }
});
"""


def html_page(title: str, body: str, *, script: str | None = None) -> HTMLResponse:
    """A page with its own CSP: its nonce'd style and script, same-origin requests only."""
    nonce = secrets.token_urlsafe(16)
    csp = (
        f"default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    scripted = f'<script nonce="{nonce}">{script}</script>' if script else ""
    document = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)} · Mercato (development)</title>"
        f'<style nonce="{nonce}">{_STYLE}</style></head>'
        f"<body><main>{body}</main>{scripted}</body></html>"
    )
    return HTMLResponse(document, headers={"Content-Security-Policy": csp})


def form_page(page: Page) -> HTMLResponse:
    fields = "".join(
        f'<label for="{field.name}">{field.label}</label>'
        f'<input id="{field.name}" name="{field.name}" type="{field.kind}" required>'
        for field in page.fields
    )
    body = (
        f"<h1>{page.title}</h1><p>{page.intro}</p>"
        f'<form id="step">{fields}<button type="submit">{page.button}</button></form>'
        '<p id="result" role="status"></p>'
        '<p class="note">A development page of the API (MERCATO_ENV=development). '
        '<a href="/dev/mailbox">Mailbox</a> · <a href="/dev/login">Sign in</a> · '
        '<a href="/dev/forgot-password">Forgot password</a> · <a href="/docs">API docs</a></p>'
    )
    config = json.dumps(
        {"endpoint": page.endpoint, "done": page.done, "from_address": page.from_address}
    ).replace("</", "<\\/")
    return html_page(page.title, body, script=_SCRIPT % config)


def add_pages(router: APIRouter) -> None:
    """Each page as a GET route of `router` (the development router, under /dev)."""
    for slug, page in PAGES.items():
        router.add_api_route(
            f"/{slug}",
            _page_route(page),
            methods=["GET"],
            name=f"page_{slug.replace('-', '_')}",
            include_in_schema=False,
            dependencies=[Depends(public())],
        )


def _page_route(page: Page) -> Callable[[], Awaitable[HTMLResponse]]:
    async def show() -> HTMLResponse:
        return form_page(page)

    return show


def linkify(text: str) -> str:
    """`text` escaped for HTML, its http(s) URLs made clickable."""
    escaped = html.escape(text)
    return _LINK.sub(lambda match: f'<a href="{match[0]}">{match[0]}</a>', escaped)


def mailbox_page(mails: Sequence[tuple[str, str, str, str]], *, to: str | None) -> HTMLResponse:
    """The development mailbox as a page: (to, subject, sent at, text) per mail, newest
    first, links clickable."""
    shown = "".join(
        '<div class="mail">'
        f"<strong>{html.escape(subject)}</strong><br>"
        f'<span class="note">to {html.escape(recipient)} · {html.escape(sent)}</span>'
        f"<pre>{linkify(text)}</pre></div>"
        for recipient, subject, sent, text in mails
    )
    value = html.escape(to or "", quote=True)
    body = (
        "<h1>Development mailbox</h1>"
        '<p class="note">Mail sent without SMTP (SMTP_URL unset). JSON: '
        "<code>curl -s http://…/dev/mailbox</code>.</p>"
        '<form method="get" action="/dev/mailbox"><label for="to">Recipient</label>'
        f'<input id="to" name="to" type="email" value="{value}">'
        '<button type="submit">Filter</button> <a href="/dev/mailbox">All</a></form>'
        f"{shown or '<p>No mail yet.</p>'}"
    )
    return html_page("Mailbox", body)
