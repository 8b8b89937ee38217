"""The broker's settings, read without loading the whole settings machinery.

``tokenstile token`` must start fast, and pydantic-settings alone costs more than its
budget; so when no ``Settings`` object is handed in, the ``TOKENSTILE_BROKER_*``
variables are read here directly (the same names and rules as ``config.Settings``). When
a TOML settings file is in force (``TOKENSTILE_CONFIG``), the full settings are loaded.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

from tokenstile.errors import ConfigError

if TYPE_CHECKING:
    from tokenstile.config import Settings

StoreKind = Literal["keychain", "encrypted-file"]
STORE_KINDS: Final = ("keychain", "encrypted-file")
_TRUE: Final = frozenset({"1", "true", "yes", "on", "t", "y"})
_FALSE: Final = frozenset({"0", "false", "no", "off", "f", "n"})


def default_store_file() -> Path:
    from tokenstile import paths

    return paths.data_dir() / "broker-session.enc"


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerOptions:
    store: StoreKind = "keychain"
    store_file: Path | None = None  # None: default_store_file()
    store_passphrase: str | None = None
    store_passphrase_file: Path | None = None
    dpop: bool = False
    lock_timeout: float = 30.0
    http_timeout: float = 5.0
    refresh_retry_delay: float = 1.5
    ca_file: Path | None = None
    app_id: str | None = None  # the registered app client token exchanges are made as
    app_secret: str | None = None  # that client's secret, when it is confidential

    def __repr__(self) -> str:  # the passphrase and secret stay out of reprs and logs
        return f"BrokerOptions(store={self.store!r}, dpop={self.dpop}, app_id={self.app_id!r})"

    @classmethod
    def from_settings(cls, settings: Settings) -> BrokerOptions:
        passphrase = settings.broker_store_passphrase
        return cls(
            store=settings.broker_store,
            store_file=settings.broker_store_file,
            store_passphrase=passphrase.get_secret_value() if passphrase is not None else None,
            store_passphrase_file=settings.broker_store_passphrase_file,
            dpop=settings.broker_dpop,
            lock_timeout=settings.broker_lock_timeout,
            http_timeout=settings.broker_http_timeout,
            refresh_retry_delay=settings.broker_refresh_retry_delay,
            ca_file=settings.broker_ca_file,
            app_id=settings.broker_app_id or None,
            app_secret=(
                settings.broker_app_secret.get_secret_value()
                if settings.broker_app_secret is not None
                else None
            ),
        )

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> BrokerOptions:
        env = os.environ if environ is None else environ
        if env.get("TOKENSTILE_CONFIG"):
            from tokenstile.config import load_settings

            return cls.from_settings(load_settings())
        store = env.get("TOKENSTILE_BROKER_STORE", "keychain")
        if store not in STORE_KINDS:
            raise ConfigError(
                f"TOKENSTILE_BROKER_STORE must be keychain or encrypted-file, not {store!r}."
            )
        return cls(
            store="encrypted-file" if store == "encrypted-file" else "keychain",
            store_file=_path(env, "TOKENSTILE_BROKER_STORE_FILE"),
            store_passphrase=env.get("TOKENSTILE_BROKER_STORE_PASSPHRASE") or None,
            store_passphrase_file=_path(env, "TOKENSTILE_BROKER_STORE_PASSPHRASE_FILE"),
            dpop=_flag(env, "TOKENSTILE_BROKER_DPOP"),
            lock_timeout=_seconds(env, "TOKENSTILE_BROKER_LOCK_TIMEOUT", 30.0, 0.0, 600.0),
            http_timeout=_seconds(env, "TOKENSTILE_BROKER_HTTP_TIMEOUT", 5.0, 0.0, 60.0),
            refresh_retry_delay=_seconds(
                env, "TOKENSTILE_BROKER_REFRESH_RETRY_DELAY", 1.5, -1e-9, 9.0
            ),
            ca_file=_path(env, "TOKENSTILE_BROKER_CA_FILE"),
            app_id=_app_id(env),
            app_secret=env.get("TOKENSTILE_BROKER_APP_SECRET") or None,
        )


def _path(env: Mapping[str, str], name: str) -> Path | None:
    value = env.get(name)
    return Path(value) if value else None


def _app_id(env: Mapping[str, str]) -> str | None:
    value = env.get("TOKENSTILE_BROKER_APP_ID")
    if value is not None and len(value) > 128:
        raise ConfigError("TOKENSTILE_BROKER_APP_ID must be at most 128 characters.")
    return value or None


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if not value or value in _FALSE:
        return False
    if value in _TRUE:
        return True
    raise ConfigError(f"{name} must be true or false, not {value!r}.")


def _seconds(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    """A number of seconds in (low, high]; ``low`` itself is excluded, as in config.py."""
    text = env.get(name)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, not {text!r}.") from None
    if not math.isfinite(value) or not low < value <= high:
        raise ConfigError(f"{name} must be a positive number of seconds, at most {high:g}.")
    return value
