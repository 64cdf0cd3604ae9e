"""Links in identity's mails follow where the API listens, or the configured URLs."""

from __future__ import annotations

import pytest

from mercato.identity.config import IdentitySettings
from mercato.identity.mail_templates import MailLinks, listening_url, verification_mail


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("127.0.0.1", 8000, "http://127.0.0.1:8000"),
        ("0.0.0.0", 9000, "http://127.0.0.1:9000"),
        ("::", 9000, "http://[::1]:9000"),
        ("::1", 8080, "http://[::1]:8080"),
        ("shop.localhost", 8001, "http://shop.localhost:8001"),
    ],
)
def test_the_default_base_is_where_the_api_listens(host: str, port: int, expected: str) -> None:
    assert listening_url(host, port) == expected


def test_in_development_links_open_the_apis_own_pages() -> None:
    links = MailLinks.of(IdentitySettings(), host="127.0.0.1", port=9000, development=True)
    assert links.verify_email("t0k") == "http://127.0.0.1:9000/dev/verify-email?token=t0k"
    assert links.reset_password("t0k") == "http://127.0.0.1:9000/dev/reset-password?token=t0k"
    assert links.forgot_password() == "http://127.0.0.1:9000/dev/forgot-password"
    assert links.sign_in() == "http://127.0.0.1:9000/dev/login"


def test_elsewhere_links_use_the_public_url() -> None:
    settings = IdentitySettings(public_url="https://api.shop.example/")
    links = MailLinks.of(settings, host="0.0.0.0", port=8000, development=False)
    assert links.verify_email("a b") == "https://api.shop.example/verify-email?token=a+b"


def test_a_frontend_url_wins_for_every_link() -> None:
    settings = IdentitySettings(
        public_url="https://api.shop.example", frontend_url="https://shop.example/account/"
    )
    for development in (True, False):
        links = MailLinks.of(settings, host="127.0.0.1", port=8000, development=development)
        assert links.reset_password("x") == "https://shop.example/account/reset-password?token=x"
        assert links.sign_in() == "https://shop.example/account/login"


def test_the_verification_mail_carries_the_link() -> None:
    links = MailLinks(pages="http://127.0.0.1:9000/dev")
    mail = verification_mail(to="ada@example.com", links=links, token="vt_1", ttl_hours=24)
    assert "http://127.0.0.1:9000/dev/verify-email?token=vt_1\n" in mail.text
