"""Credentials generated on first use into a private file, and who wins over it."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from mercato.sandbox.config import SandboxSettings
from mercato.sandbox.credentials import load_or_create_credentials, with_credentials


def test_first_use_writes_a_private_file_that_later_uses_read(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "sandbox.json"

    created = load_or_create_credentials(path)
    again = load_or_create_credentials(path)

    assert again == created
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert created.api_key.startswith("sk_sandbox_")
    assert len(created.api_key) >= 32
    [secret] = created.webhook_secrets
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) >= 24
    assert created.api_key not in repr(created)
    assert secret not in repr(created)


def test_two_installations_never_share_secrets(tmp_path: Path) -> None:
    one = load_or_create_credentials(tmp_path / "one.json")
    two = load_or_create_credentials(tmp_path / "two.json")

    assert one.api_key != two.api_key
    assert one.webhook_secrets != two.webhook_secrets


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "[]",
        '{"api_key": "short", "webhook_secrets": ["whsec_0123456789abcdef"]}',
        '{"api_key": "sk_sandbox_0123456789abcdef", "webhook_secrets": []}',
    ],
)
def test_a_damaged_file_is_refused_without_quoting_it(tmp_path: Path, content: str) -> None:
    path = tmp_path / "sandbox.json"
    path.write_text(content)

    with pytest.raises(ValueError, match="not a sandbox credentials file") as refused:
        load_or_create_credentials(path)

    assert "sk_sandbox" not in str(refused.value)


def test_settings_given_explicitly_win_over_the_file(tmp_path: Path) -> None:
    path = tmp_path / "sandbox.json"
    stored = load_or_create_credentials(path)
    given_key = SecretStr("sk_sandbox_given_given_given")

    only_key = with_credentials(SandboxSettings(credentials_file=path, api_keys=(given_key,)))
    nothing = with_credentials(SandboxSettings(credentials_file=path))

    assert only_key.api_key_values() == ("sk_sandbox_given_given_given",)
    assert only_key.webhook_secret_values() == stored.webhook_secrets
    assert nothing.api_key_values() == (stored.api_key,)
    document = json.loads(path.read_text())
    assert document["api_key"] == stored.api_key  # the file is never rewritten


def test_fully_configured_settings_never_touch_the_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.json"
    settings = SandboxSettings(
        credentials_file=path,
        api_keys=(SecretStr("sk_sandbox_given_given_given"),),
        webhook_secrets=(SecretStr("whsec_given_given_given"),),
    )

    assert with_credentials(settings) is settings
    assert not path.exists()
