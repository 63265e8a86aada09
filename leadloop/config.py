"""Twelve-factor configuration: every setting comes from the environment, and a bad value fails loudly."""

import os
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


def env(name: str, default: str = "") -> str:
    """The value of `name`, or of the file named by `name_FILE` (for secrets mounted as files)."""
    file_path = os.environ.get(f"{name}_FILE")
    if file_path:
        return Path(file_path).read_text().strip()
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = env(name, "1" if default else "0").strip().lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(f"Unexpected value {name}={value!r}: use 1/0, true/false, yes/no")


def env_int(name: str, default: int) -> int:
    value = env(name, str(default))
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(
            f"Unexpected value {name}={value!r}: expected a whole number"
        ) from None


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env(name, default).strip().lower()
    if value not in choices:
        raise ImproperlyConfigured(
            f"Unexpected value {name}={value!r}: use one of {', '.join(choices)}"
        )
    return value


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


def leadloop_home() -> Path:
    home = Path(env("LEADLOOP_HOME", ".leadloop")).resolve()
    home.mkdir(parents=True, exist_ok=True)
    return home


def secret_key(home: Path) -> str:
    """SECRET_KEY from the environment, or one generated once and kept in LEADLOOP_HOME."""
    configured = env("SECRET_KEY")
    if configured:
        return configured
    key_file = home / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()
