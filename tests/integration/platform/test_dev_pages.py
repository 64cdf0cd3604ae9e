"""Development pages: the mailbox as a page with clickable links (JSON stays), and the
pages that complete a verification or a password reset in a browser."""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import insert, text

from mercato.app import create_app
from mercato.platform import dev_pages
from mercato.platform.config import Environment, Settings
from mercato.platform.db.database import ConnectionBoundDatabase
from mercato.platform.mail import DevMail
from tests.conftest import IN_CI, make_settings

# Mail is sent by a job: in a rolled-back test it is still the job's arguments.
_MAIL_JOB = (
    "SELECT args FROM procrastinate_jobs WHERE task_name = 'platform:send_mail'"
    " AND args->>'to' = :to"
)
BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@pytest.fixture
async def dev_client(
    database_url: str, database: ConnectionBoundDatabase
) -> AsyncIterator[httpx.AsyncClient]:
    settings: Settings = make_settings(database_url, port=9123).model_copy(
        update={"env": Environment.DEVELOPMENT}
    )
    app: FastAPI = create_app(settings, database=database)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def _mail(database: ConnectionBoundDatabase, *, to: str, text: str) -> None:
    async with database.session() as session, session.begin():
        await session.execute(
            insert(DevMail).values(
                recipient=to,
                subject="<b>Confirm</b> your address",
                text=text,
                html=None,
                effect_id=uuid.uuid4(),
            )
        )


async def test_the_mailbox_is_a_page_with_clickable_links_for_a_browser(
    dev_client: httpx.AsyncClient, database: ConnectionBoundDatabase
) -> None:
    link = "http://127.0.0.1:9123/dev/verify-email?token=vt_abc&x=1"
    await _mail(database, to="ada@example.com", text=f"Open <this>:\n{link}\n")
    page = await dev_client.get("/dev/mailbox", headers=BROWSER)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<a href="http://127.0.0.1:9123/dev/verify-email?token=vt_abc&amp;x=1">' in page.text
    assert "&lt;b&gt;Confirm&lt;/b&gt;" in page.text  # the mail's text is never markup
    assert "Open &lt;this&gt;" in page.text
    # curl and scripts still get JSON.
    listed = await dev_client.get("/dev/mailbox", params={"to": "ada@example.com"})
    assert listed.headers["content-type"] == "application/json"
    assert listed.json()[0]["text"].endswith(f"{link}\n")


@pytest.mark.parametrize(
    ("page", "endpoint"),
    [
        ("verify-email", "/api/v1/auth/verify-email"),
        ("reset-password", "/api/v1/auth/password/reset"),
        ("forgot-password", "/api/v1/auth/password/forgot"),
        ("login", "/api/v1/auth/login"),
    ],
)
async def test_each_page_posts_its_form_to_the_api_under_a_strict_policy(
    dev_client: httpx.AsyncClient, page: str, endpoint: str
) -> None:
    response = await dev_client.get(f"/dev/{page}", params={"token": "<script>x</script>"})
    assert response.status_code == 200
    assert f'"endpoint": "{endpoint}"' in response.text
    assert "<script>x</script>" not in response.text  # nothing of the request is rendered
    policy = response.headers["content-security-policy"]
    nonce = re.search(r"'nonce-([^']+)'", policy)
    assert nonce is not None
    assert f'<script nonce="{nonce[1]}">' in response.text
    assert "default-src 'none'" in policy
    assert "connect-src 'self'" in policy


async def test_a_registration_mails_a_link_to_the_verification_page_on_the_apis_port(
    dev_client: httpx.AsyncClient, database: ConnectionBoundDatabase
) -> None:
    await dev_client.post(
        "/api/v1/auth/register",
        json={"email": "grace@example.com", "password": "correct horse battery staple"},
    )
    async with database.session() as session:
        mail = (await session.execute(text(_MAIL_JOB), {"to": "grace@example.com"})).scalar_one()
    link = re.search(r"http://\S+", mail["text"])
    assert link is not None
    assert link[0].startswith("http://127.0.0.1:9123/dev/verify-email?token=")
    token = link[0].split("token=", 1)[1]
    page = await dev_client.get(link[0].removeprefix("http://127.0.0.1:9123"))
    assert page.status_code == 200
    verified = await dev_client.post("/api/v1/auth/verify-email", json={"token": token})
    assert verified.status_code == 204  # what the page's script sends


@pytest.mark.parametrize("page", sorted(dev_pages.PAGES))
def test_each_pages_script_is_valid_javascript(page: str, tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        if IN_CI:
            pytest.fail("CI=true but node is not installed")
        pytest.skip("node is not installed: the pages' scripts are not checked")
    document = bytes(dev_pages.form_page(dev_pages.PAGES[page]).body).decode()
    script = re.search(r'<script nonce="[^"]+">(.*)</script>', document, re.DOTALL)
    assert script is not None
    (tmp_path / "page.js").write_text(script[1])
    checked = subprocess.run(
        [node, "--check", str(tmp_path / "page.js")], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stderr
