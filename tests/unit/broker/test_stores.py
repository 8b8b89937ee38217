"""Where the session is kept: keyring backends that are no keychain are refused; the
encrypted file store for headless hosts; the broker's settings on the fast path."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from keyring.backends import chainer, fail, null

from tests.unit.broker.fakes import MemoryKeyring
from tokenstile.broker import KeychainUnavailable, KeyringStore
from tokenstile.broker.file_store import EncryptedFileStore
from tokenstile.broker.options import BrokerOptions
from tokenstile.broker.session import open_store
from tokenstile.config import load_settings
from tokenstile.errors import ConfigError


def test_the_keyring_store_keeps_one_item_and_clears_it_twice() -> None:
    keychain = MemoryKeyring()
    store = KeyringStore(keychain)
    assert store.load() is None
    store.save('{"a": 1}')
    assert keychain.items == {("tokenstile", "session"): '{"a": 1}'}
    assert store.load() == '{"a": 1}'
    store.clear()
    store.clear()
    assert store.load() is None


@pytest.mark.parametrize("backend", [fail.Keyring(), null.Keyring()])
def test_no_real_keychain_is_refused_with_the_fix(backend: object) -> None:
    store = KeyringStore(backend)  # type: ignore[arg-type]
    with pytest.raises(KeychainUnavailable, match="TOKENSTILE_BROKER_STORE=encrypted-file"):
        store.load()


def test_a_chain_of_backends_uses_a_real_one_or_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    from tokenstile.broker.store import _keychain_backend

    keychain = MemoryKeyring()
    monkeypatch.setattr(chainer.ChainerBackend, "backends", property(lambda _: [keychain]))
    assert _keychain_backend(chainer.ChainerBackend()) is keychain
    monkeypatch.setattr(chainer.ChainerBackend, "backends", property(lambda _: []))
    with pytest.raises(KeychainUnavailable):
        _keychain_backend(chainer.ChainerBackend())


def test_the_backend_named_in_the_environment_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    with pytest.raises(KeychainUnavailable, match="No OS keychain"):
        KeyringStore().load()


def test_the_encrypted_file_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    passphrase = tmp_path / "passphrase"
    passphrase.write_text("correct horse battery staple\n")
    monkeypatch.setenv("TOKENSTILE_BROKER_STORE", "encrypted-file")
    monkeypatch.setenv("TOKENSTILE_BROKER_STORE_PASSPHRASE_FILE", str(passphrase))
    with pytest.raises(KeychainUnavailable, match="readable by others"):
        open_store(BrokerOptions.from_environment())
    passphrase.chmod(0o600)
    store = open_store(BrokerOptions.from_environment())
    assert isinstance(store, EncryptedFileStore)
    assert store.load() is None
    store.save('{"refresh_token": "very-secret-refresh-token"}')
    path = Path(os.environ["TOKENSTILE_DATA_DIR"]) / "broker-session.enc"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert b"very-secret" not in path.read_bytes()
    assert store.load() == '{"refresh_token": "very-secret-refresh-token"}'
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left

    with pytest.raises(KeychainUnavailable, match="does not open with this passphrase"):
        EncryptedFileStore(path, "wrong").load()
    tampered = bytearray(path.read_bytes())
    tampered[-1] ^= 1
    path.write_bytes(bytes(tampered))
    with pytest.raises(KeychainUnavailable):
        store.load()
    store.clear()
    assert not path.exists()


def test_the_encrypted_file_store_needs_a_passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKENSTILE_BROKER_STORE", "encrypted-file")
    with pytest.raises(KeychainUnavailable, match="needs a passphrase"):
        open_store(BrokerOptions.from_environment())


def test_the_fast_path_reads_the_settings_as_config_does(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    values = {
        "TOKENSTILE_BROKER_STORE": "encrypted-file",
        "TOKENSTILE_BROKER_STORE_FILE": str(tmp_path / "s.enc"),
        "TOKENSTILE_BROKER_STORE_PASSPHRASE": "pw",
        "TOKENSTILE_BROKER_DPOP": "true",
        "TOKENSTILE_BROKER_LOCK_TIMEOUT": "12.5",
        "TOKENSTILE_BROKER_HTTP_TIMEOUT": "3",
        "TOKENSTILE_BROKER_REFRESH_RETRY_DELAY": "0",
        "TOKENSTILE_BROKER_CA_FILE": str(tmp_path / "ca.pem"),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    fast = BrokerOptions.from_environment()
    assert fast == BrokerOptions.from_settings(load_settings())
    assert "pw" not in repr(fast)
    assert (
        BrokerOptions.from_environment({})
        == BrokerOptions.from_settings(load_settings()).__class__()
    )
    for name, bad in [
        ("TOKENSTILE_BROKER_STORE", "plaintext"),
        ("TOKENSTILE_BROKER_DPOP", "maybe"),
        ("TOKENSTILE_BROKER_LOCK_TIMEOUT", "0"),
        ("TOKENSTILE_BROKER_HTTP_TIMEOUT", "nan"),
    ]:
        with pytest.raises(ConfigError, match=name):
            BrokerOptions.from_environment({name: bad})
