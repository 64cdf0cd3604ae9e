"""Length, not composition; common and email-derived passwords refused."""

from __future__ import annotations

import pytest

from mercato.identity.password_policy import common_passwords, password_problems


def codes(password: str, email: str | None = None) -> set[str]:
    return {problem.code for problem in password_problems(password, email=email)}


def test_a_long_uncommon_password_is_fine_whatever_its_characters() -> None:
    assert codes("correct horse battery staple") == set()
    assert codes("пароль-на-русском-языке") == set()
    assert codes("🐙🐙🐙🐙🐙🐙🐙🐙") == set()


@pytest.mark.parametrize(
    ("password", "expected"), [("1234567", "too_short"), ("x" * 129, "too_long")]
)
def test_length_bounds(password: str, expected: str) -> None:
    assert expected in codes(password)


def test_boundaries_are_inclusive() -> None:
    assert "too_short" not in codes("k7#Qz!p2")
    assert "too_long" not in codes("k7#Qz!p2" * 16)


@pytest.mark.parametrize("common", ["password", "Password", "123456789", "qwertyuiop", "iloveyou"])
def test_common_passwords_are_refused_in_any_case(common: str) -> None:
    assert "too_common" in codes(common)


def test_the_shipped_list_holds_the_top_ten_thousand_at_least() -> None:
    assert len(common_passwords()) >= 10_000


def test_a_password_containing_the_email_local_part_is_refused() -> None:
    assert "contains_email" in codes("my-ada.lovelace-2026", email="ada.lovelace@example.com")
    assert "contains_email" not in codes("my-ada.lovelace-2026", email="grace@example.com")


def test_fullwidth_input_counts_as_its_plain_form() -> None:
    assert "too_common" in codes("\uff50\uff41\uff53\uff53\uff57\uff4f\uff52\uff44")  # "password"
