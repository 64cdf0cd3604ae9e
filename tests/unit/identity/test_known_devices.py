"""Device tokens: signed, bound to one account, expiring; anything else is no device."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from mercato.identity.known_devices import KnownDevices

SECRET = b"a secret key of the right length for tests"


def test_a_token_names_its_account_and_device() -> None:
    devices = KnownDevices(SECRET)
    user_id = uuid.uuid4()
    token = devices.issue(user_id)
    device = devices.read(token, user_id=user_id)
    assert device is not None
    assert device.user_id == user_id
    again = devices.read(devices.issue(user_id, device_id=device.device_id), user_id=user_id)
    assert again is not None
    assert again.device_id == device.device_id
    other = devices.read(devices.issue(user_id), user_id=user_id)
    assert other is not None
    assert other.device_id != device.device_id


def test_a_token_of_another_account_is_no_device() -> None:
    devices = KnownDevices(SECRET)
    token = devices.issue(uuid.uuid4())
    assert devices.read(token, user_id=uuid.uuid4()) is None


def test_an_expired_token_is_no_device() -> None:
    devices = KnownDevices(SECRET)
    user_id = uuid.uuid4()
    assert (
        devices.read(devices.issue(user_id, ttl=dt.timedelta(seconds=-1)), user_id=user_id) is None
    )


@pytest.mark.parametrize(
    "tamper",
    [
        lambda token: token[:-2] + ("AA" if not token.endswith("AA") else "BB"),  # signature
        lambda token: token.replace(".", ".9", 3),  # a field changed
        lambda token: "d2" + token[2:],  # another version
        lambda token: token + "." + token,  # too long and malformed
        lambda token: "",
        lambda token: "d1.not.a.token",
    ],
)
def test_a_tampered_token_is_no_device(tamper: object) -> None:
    devices = KnownDevices(SECRET)
    user_id = uuid.uuid4()
    token = devices.issue(user_id)
    assert callable(tamper)
    assert devices.read(tamper(token), user_id=user_id) is None


def test_a_token_signed_with_another_secret_is_no_device() -> None:
    user_id = uuid.uuid4()
    token = KnownDevices(b"another secret key entirely, same length").issue(user_id)
    assert KnownDevices(SECRET).read(token, user_id=user_id) is None
