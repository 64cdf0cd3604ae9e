"""Image URLs: https anywhere, or anything under the configured media base, and only that."""

from __future__ import annotations

import pytest

from mercato.catalog.images import checked_image_url
from mercato.platform.errors import Invalid

BASE = "http://localhost:8000/media"


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:8000/media/tee.jpg",
        "http://localhost:8000/media/a/b/tee.jpg",
        "https://cdn.example.com/tee.jpg",
    ],
)
def test_urls_under_the_base_or_https_are_kept(url: str) -> None:
    assert checked_image_url(url, media_base=BASE, pointer="/url") == url


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:8000/media@evil.example/x.jpg",  # credentials, not a path
        "http://localhost:8000/mediaevil/x.jpg",  # a sibling, not under the folder
        "http://localhost:8000.evil.example/media/x.jpg",  # another host
        "http://user:pw@localhost:8000/media/x.jpg",
        "http://localhost:8001/media/x.jpg",
        "http://cdn.example.com/x.jpg",
        "javascript:alert(1)",
    ],
)
def test_look_alikes_of_the_base_are_refused(url: str) -> None:
    with pytest.raises(Invalid):
        checked_image_url(url, media_base=BASE, pointer="/url")


def test_a_base_without_a_path_admits_its_origin_only() -> None:
    base = "http://localhost:8000"
    assert checked_image_url("http://localhost:8000/x.jpg", media_base=base, pointer="/u")
    for url in ("http://localhost:8000@evil.example/x", "http://localhost:8000.evil.example/"):
        with pytest.raises(Invalid):
            checked_image_url(url, media_base=base, pointer="/u")
