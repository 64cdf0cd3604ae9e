"""Settings of a process: the platform's sections and every module's, read from the
environment, and a settings error described for a person (which variable, what is wrong)."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError
from pydantic_settings import BaseSettings

from mercato.platform.config import (
    DatabaseSettings,
    EventSettings,
    HttpSettings,
    JobSettings,
    LogSettings,
    MailSettings,
    Settings,
)
from mercato.platform.failures import StartupError
from mercato.platform.module import Module

# The platform's own sections, each read from the environment on its own (`load_settings`).
_PLATFORM_SECTIONS: dict[str, type[BaseSettings]] = {
    "database": DatabaseSettings,
    "http": HttpSettings,
    "log": LogSettings,
    "events": EventSettings,
    "mail": MailSettings,
    "jobs": JobSettings,
}


def load_settings(modules: Sequence[Module]) -> Settings:
    """The platform's settings and every module's section, validated now (a bad variable
    fails start-up with its name, not the first request that reads it). Every bad variable
    is reported, one line each, not only the first."""
    problems: list[str] = []
    sections: dict[str, BaseSettings] = {}
    failed: set[str] = set()
    for field, kind in _PLATFORM_SECTIONS.items():
        try:
            sections[field] = kind()
        except ValidationError as error:
            problems.extend(describe_settings_errors(error, kind))
            sections[field] = kind.model_construct()  # defaults, so the root can be checked
            failed.add(field)
    settings: Settings | None = None
    try:
        settings = Settings(**sections)  # type: ignore[arg-type]
    except ValidationError as error:
        # A section that failed on its own is reported already.
        problems.extend(
            line
            for item, line in zip(error.errors(), describe_settings_errors(error), strict=True)
            if not item["loc"] or item["loc"][0] not in failed
        )
    for module in modules:
        if module.settings is not None:
            try:
                section = module.settings()
            except ValidationError as error:
                problems.extend(describe_settings_errors(error, module.settings))
            else:
                if settings is not None:
                    settings = settings.with_section(section)
    if problems or settings is None:
        raise StartupError("\n".join(problems))
    return settings


def describe_settings_error(error: ValidationError) -> str:
    """The first problem of `error`, in one line (see `describe_settings_errors`)."""
    return describe_settings_errors(error)[0]


def describe_settings_errors(
    error: ValidationError, kind: type[BaseSettings] | None = None
) -> list[str]:
    """One line per problem, naming the environment variable at fault, without echoing
    its value."""
    prefix = (
        _prefix_of(kind.model_config.get("env_prefix"))
        if kind is not None
        else _env_prefix_of(error.title)
    )
    lines = []
    for item in error.errors(include_url=False, include_input=False):
        message = item["msg"].removeprefix("Value error, ")
        loc = [str(part) for part in item["loc"]]
        if not loc or loc[0] in _PLATFORM_SECTIONS:
            # A check on the whole (or on a section): the message names the variable.
            lines.append(f"configuration error: {message}")
            continue
        # An alias is the variable itself (`REDIS_URL`); a field name takes the prefix.
        name = loc[0] if loc[0].isupper() else (prefix or "") + loc[0]
        variable = ".".join([name.upper(), *loc[1:]])
        lines.append(f"configuration error: {variable}: {message}")
    return lines


def _env_prefix_of(class_name: str) -> str | None:
    for cls in BaseSettings.__subclasses__():
        if cls.__name__ == class_name:
            return _prefix_of(cls.model_config.get("env_prefix"))
    return None


def _prefix_of(value: object) -> str | None:
    return value if isinstance(value, str) else None
