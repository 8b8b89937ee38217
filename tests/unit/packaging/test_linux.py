"""The Linux install layout: desktop files, systemd units, udev rules, config examples, install.sh.

The unit files are checked by systemd's own tools offline (no running systemd needed):
``systemd-analyze verify`` on the units as install.sh lays them out under a temporary
root, and ``systemd-analyze security --offline`` for the hardening score.
"""

from __future__ import annotations

import configparser
import importlib.util
import re
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import ROOT
from tokenstile.config import load_settings

LINUX = ROOT / "packaging" / "linux"
INSTALL = LINUX / "install.sh"
UNITS = ("tokenstile-server.service", "tokenstile-kiosk.service")


def _stand_in_bundle(tmp_path: Path) -> Path:
    """A directory shaped like `make bundle`'s output; the real one is tested in integration."""
    bundle = tmp_path / "bundle"
    (bundle / "_internal").mkdir(parents=True)
    (bundle / "_internal" / "base_library.zip").write_bytes(b"zip")
    program = bundle / "tokenstile"
    program.write_text("#!/bin/sh\necho tokenstile stand-in\n")
    program.chmod(0o755)
    return bundle


def _install(bundle: Path, destdir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(INSTALL), "--bundle", str(bundle), "--destdir", str(destdir), *extra],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """install.sh run into a temporary root that also holds the host's systemd units."""
    base = tmp_path_factory.mktemp("install")
    root = base / "root"
    # systemd-analyze --root resolves dependencies (multi-user.target, ...) in the root.
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    result = _install(_stand_in_bundle(base), root)
    assert result.returncode == 0, result.stderr
    return root


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and "usr/lib/systemd/system" not in str(path)
    }


def test_desktop_files_pass_desktop_file_validate() -> None:
    files = sorted(LINUX.glob("*.desktop"))
    assert [f.name for f in files] == ["tokenstile-admin.desktop", "tokenstile-kiosk.desktop"]
    result = subprocess.run(
        ["desktop-file-validate", *map(str, files)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == "", result.stdout  # not even a hint


def test_desktop_file_validate_catches_a_broken_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.desktop"
    broken.write_text("[Desktop Entry]\nType=Application\nExec=tokenstile kiosk\n")  # no Name
    result = subprocess.run(
        ["desktop-file-validate", str(broken)], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0


@pytest.mark.parametrize("unit", UNITS)
def test_units_pass_systemd_analyze_verify(staged: Path, unit: str) -> None:
    result = subprocess.run(
        ["systemd-analyze", "verify", f"--root={staged}", f"/etc/systemd/system/{unit}"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    # Unknown keys and bad values are only warnings to systemd: none may appear.
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_systemd_analyze_verify_catches_a_bad_unit(staged: Path) -> None:
    bad = staged / "etc/systemd/system/tokenstile-bad.service"
    bad.write_text(
        (LINUX / "tokenstile-server.service")
        .read_text()
        .replace("ProtectSystem=strict", "ProtectSytem=strict")
    )
    try:
        result = subprocess.run(
            ["systemd-analyze", "verify", f"--root={staged}", "/etc/systemd/system/" + bad.name],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    finally:
        bad.unlink()
    assert "Unknown key 'ProtectSytem'" in result.stderr


@pytest.mark.parametrize(("unit", "limit"), [(UNITS[0], "2.0"), (UNITS[1], "4.5")])
def test_units_hardening_score(staged: Path, unit: str, limit: str) -> None:
    # systemd's exposure scale: 0 (locked down) .. 10 (unprotected); --threshold is in tenths.
    threshold = str(int(float(limit) * 10))
    result = subprocess.run(
        [
            "systemd-analyze",
            "security",
            "--offline=true",
            f"--root={staged}",
            f"--threshold={threshold}",
            unit,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _unit(name: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((LINUX / name).read_text())
    return parser


def test_server_unit_hardening_options() -> None:
    service = _unit("tokenstile-server.service")["Service"]
    expected = {
        "User": "tokenstile",
        "StateDirectory": "tokenstile",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "CapabilityBoundingSet": "",
        "MemoryDenyWriteExecute": "yes",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
        "SystemCallArchitectures": "native",
    }
    assert {key: service.get(key) for key in expected} == expected
    text = (LINUX / "tokenstile-server.service").read_text()
    assert "SystemCallFilter=@system-service\n" in text
    assert "ExecStart=/opt/tokenstile/tokenstile --log-level INFO server\n" in text


def test_kiosk_unit_runs_cage_on_tty1_for_the_kiosk_user() -> None:
    unit = _unit("tokenstile-kiosk.service")
    service = unit["Service"]
    assert service["User"] == "tokenstile-kiosk"
    assert service["TTYPath"] == "/dev/tty1"
    assert service["PAMName"] == "tokenstile-kiosk"
    assert service["ExecStart"].startswith("/opt/tokenstile/libexec/tokenstile-kiosk-session ")
    assert service["ExecStart"].endswith("/opt/tokenstile/tokenstile kiosk --fullscreen")
    assert "pcscd.socket" in unit["Unit"]["Wants"]
    assert unit["Unit"]["Conflicts"] == "getty@tty1.service"
    session = (LINUX / "tokenstile-kiosk-session").read_text()
    assert 'exec cage -d -- "$@"' in session
    assert (
        subprocess.run(
            ["sh", "-n", str(LINUX / "tokenstile-kiosk-session")], check=False
        ).returncode
        == 0
    )


def test_kiosk_session_refuses_to_run_outside_its_unit(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(LINUX / "tokenstile-kiosk-session"), "true"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert result.returncode != 0
    assert "run this from tokenstile-kiosk.service" in result.stderr


@pytest.mark.parametrize("name", ["tokenstile.toml", "kiosk.toml"])
def test_config_examples_are_valid_settings(name: str) -> None:
    settings = load_settings(LINUX / name)  # an unknown or bad key raises ConfigError
    if name == "tokenstile.toml":
        assert settings.db == "sqlite:////var/lib/tokenstile/tokenstile.db"
        assert settings.kek_file == Path("/var/lib/tokenstile/kek.key")
        assert settings.issuer_url() == "https://auth.example.com"
    else:
        assert settings.kiosk_server == "https://auth.example.com"


_RULE_KEY = re.compile(
    r'(?P<key>[A-Z_]+)(\{(?P<attr>[^}]+)\})?\s*(?P<op>==|!=|\+=|-=|:=|=)\s*"(?P<value>[^"]*)"'
)


def _udev_rules() -> list[list[dict[str, str]]]:
    """Each rule as its key/operator/value triples; a line that does not parse fails."""
    rules = []
    for line in (LINUX / "70-tokenstile-fido.rules").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = [p.strip() for p in line.split(",")]
        matches = [_RULE_KEY.fullmatch(p) for p in parts]
        assert all(matches), line
        rules.append([m.groupdict() for m in matches if m])
    return rules


def test_udev_rules_tag_fido_hidraw_devices_for_the_seat_user() -> None:
    rules = _udev_rules()
    keys = {rule["key"] for line in rules for rule in line}
    assert keys <= {
        "ACTION",
        "SUBSYSTEM",
        "KERNEL",
        "ENV",
        "IMPORT",
        "TAG",
        "ATTRS",
        "GOTO",
        "LABEL",
    }
    flat = [(r["key"], r["attr"], r["op"], r["value"]) for line in rules for r in line]
    assert ("SUBSYSTEM", None, "!=", "hidraw") in flat
    # The usage-page check (systemd's fido_id) sets ID_SECURITY_TOKEN; that earns uaccess.
    assert ("IMPORT", "program", "=", "fido_id") in flat
    usage_page_rule = next(
        line for line in rules if line[0]["value"] == "1" and line[0]["op"] == "=="
    )
    assert {"key": "TAG", "attr": None, "op": "+=", "value": "uaccess"} in usage_page_rule
    # Every vendor rule grants uaccess; nothing widens the mode or hands out a group.
    for line in rules:
        if line[0]["key"] == "ATTRS":
            assert line[-1] == {"key": "TAG", "attr": None, "op": "+=", "value": "uaccess"}
    assert not {"MODE", "GROUP", "OWNER"} & keys
    gotos = {r["value"] for line in rules for r in line if r["key"] == "GOTO"}
    labels = {r["value"] for line in rules for r in line if r["key"] == "LABEL"}
    assert gotos == labels == {"tokenstile_fido_end"}


def test_install_lays_out_every_file(staged: Path) -> None:
    expected = [
        "opt/tokenstile/tokenstile",
        "opt/tokenstile/_internal/base_library.zip",
        "opt/tokenstile/libexec/tokenstile-kiosk-session",
        "etc/systemd/system/tokenstile-server.service",
        "etc/systemd/system/tokenstile-kiosk.service",
        "etc/udev/rules.d/70-tokenstile-fido.rules",
        "etc/pam.d/tokenstile-kiosk",
        "etc/sysusers.d/tokenstile.conf",
        "etc/tokenstile/tokenstile.toml",
        "etc/tokenstile/kiosk.toml",
        "usr/local/share/applications/tokenstile-kiosk.desktop",
        "usr/local/share/applications/tokenstile-admin.desktop",
        "usr/local/share/icons/hicolor/scalable/apps/tokenstile.svg",
        *(f"usr/local/share/icons/hicolor/{n}x{n}/apps/tokenstile.png" for n in (48, 128, 256)),
    ]
    missing = [name for name in expected if not (staged / name).is_file()]
    assert missing == []
    link = staged / "usr/local/bin/tokenstile"
    assert link.is_symlink()
    assert str(link.readlink()) == "/opt/tokenstile/tokenstile"
    assert (staged / "etc/tokenstile/tokenstile.toml").stat().st_mode & 0o777 == 0o640
    assert (staged / "opt/tokenstile/libexec/tokenstile-kiosk-session").stat().st_mode & 0o111
    assert (staged / "opt/tokenstile/docs/admin-guide.md").is_file()


def test_install_is_idempotent_and_keeps_edited_settings(tmp_path: Path) -> None:
    bundle, root = _stand_in_bundle(tmp_path), tmp_path / "root"
    assert _install(bundle, root).returncode == 0
    first = _files(root)
    settings = root / "etc/tokenstile/tokenstile.toml"
    settings.write_text('issuer = "https://login.example.org"\n')
    (bundle / "tokenstile").write_text("#!/bin/sh\necho version two\n")
    (bundle / "_internal" / "base_library.zip").unlink()  # a file the new build dropped
    second = _install(bundle, root)
    assert second.returncode == 0, second.stderr
    after = _files(root)
    assert settings.read_text() == 'issuer = "https://login.example.org"\n'
    assert after["opt/tokenstile/tokenstile"] == b"#!/bin/sh\necho version two\n"
    assert "opt/tokenstile/_internal/base_library.zip" not in after
    changed = {n for n in first if first[n] != after.get(n)}
    assert changed == {
        "etc/tokenstile/tokenstile.toml",
        "opt/tokenstile/tokenstile",
        "opt/tokenstile/_internal/base_library.zip",
    }
    assert not list(root.glob("opt/tokenstile.*"))  # no .new or .old left behind


def test_install_prefix_is_written_into_units_and_desktop_files(tmp_path: Path) -> None:
    root = tmp_path / "root"
    result = _install(_stand_in_bundle(tmp_path), root, "--prefix", "/srv/ts")
    assert result.returncode == 0, result.stderr
    unit = (root / "etc/systemd/system/tokenstile-server.service").read_text()
    assert "ExecStart=/srv/ts/tokenstile --log-level INFO server" in unit
    assert "/opt/tokenstile" not in unit
    desktop = (root / "usr/local/share/applications/tokenstile-kiosk.desktop").read_text()
    assert "Exec=/srv/ts/tokenstile kiosk\n" in desktop
    assert (root / "srv/ts/tokenstile").is_file()
    assert str((root / "usr/local/bin/tokenstile").readlink()) == "/srv/ts/tokenstile"


def test_install_refuses_a_missing_bundle_and_bad_arguments(tmp_path: Path) -> None:
    missing = _install(tmp_path / "nothing", tmp_path / "root")
    assert missing.returncode == 1
    assert "make bundle" in missing.stderr
    relative = _install(_stand_in_bundle(tmp_path), tmp_path / "root", "--prefix", "opt/x")
    assert relative.returncode == 1
    assert "absolute path" in relative.stderr
    unknown = subprocess.run(
        ["bash", str(INSTALL), "--frobnicate"], capture_output=True, check=False
    )
    assert unknown.returncode == 2
    assert not (tmp_path / "root").exists()


def _render_icons() -> ModuleType:
    # packaging/ is not a Python package (and `packaging` is a PyPI library): load the file.
    spec = importlib.util.spec_from_file_location("render_icons", LINUX / "render_icons.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_icons_are_the_svg_rendered(tmp_path: Path, qapp: object) -> None:
    """The committed PNGs match the SVG (re-run render_icons.py after editing it).

    ``qapp``: render_icons.py makes a QGuiApplication when none exists, and a test process
    has one application for good; pytest-qt's QApplication first, so that the kiosk tests
    that run after this one in the same process (xdist orders by work unit) get theirs."""
    from PySide6.QtGui import QImage

    render_icons = _render_icons()
    for size in render_icons.SIZES:
        committed = QImage(str(render_icons.png_path(size)))
        assert (committed.width(), committed.height()) == (size, size)
        render_icons.render(size, tmp_path / f"{size}.png")
        fresh = QImage(str(tmp_path / f"{size}.png"))
        diff = sum(
            abs(committed.pixelColor(x, y).alpha() - fresh.pixelColor(x, y).alpha())
            + abs(committed.pixelColor(x, y).red() - fresh.pixelColor(x, y).red())
            + abs(committed.pixelColor(x, y).blue() - fresh.pixelColor(x, y).blue())
            for x in range(size)
            for y in range(size)
        )
        assert diff / size**2 < 1.0, f"the {size}px icon is not the SVG rendered"
