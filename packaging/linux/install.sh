#!/bin/bash
# Install a Tokenstile bundle (`make bundle`) and its system files on a Linux host.
#
#   sudo packaging/linux/install.sh [--bundle DIR] [--prefix DIR] [--destdir DIR]
#
# --bundle   the PyInstaller onedir build (default: dist/tokenstile of this checkout)
# --prefix   where the bundle goes (default /opt/tokenstile); the units, desktop files
#            and the `tokenstile` link point there
# --destdir  stage everything under this directory instead of / (also $DESTDIR); then
#            no user is created and no service manager is told
#
# Installs: PREFIX/ (the program), PREFIX/libexec/tokenstile-kiosk-session,
# PREFIX/docs/, /usr/local/bin/tokenstile, /etc/systemd/system/tokenstile-{server,kiosk}.service,
# /etc/udev/rules.d/70-tokenstile-fido.rules, /etc/pam.d/tokenstile-kiosk,
# /etc/sysusers.d/tokenstile.conf, /etc/tokenstile/{tokenstile,kiosk}.toml (only when
# absent: your edits are kept), /usr/local/share/applications/tokenstile-{kiosk,admin}.desktop
# and the icons. Running it again replaces the program and the packaged files, nothing else.
# It enables and starts nothing: docs/admin-guide.md says what to do next.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
checkout=$(cd "$here/../.." && pwd)
bundle="$checkout/dist/tokenstile"
prefix=/opt/tokenstile
destdir=${DESTDIR:-}

usage() { sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
fail() { echo "install.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
    case "$1" in
        --bundle) [ $# -ge 2 ] || fail "--bundle needs a directory."; bundle=$2; shift 2 ;;
        --prefix) [ $# -ge 2 ] || fail "--prefix needs a directory."; prefix=$2; shift 2 ;;
        --destdir) [ $# -ge 2 ] || fail "--destdir needs a directory."; destdir=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done

case "$prefix" in /*) ;; *) fail "--prefix must be an absolute path, not $prefix." ;; esac
[ -x "$bundle/tokenstile" ] || fail "$bundle/tokenstile is missing: run \`make bundle\` first, or give --bundle."
destdir=${destdir%/}
if [ -n "$destdir" ]; then
    mkdir -p "$destdir"
    destdir=$(cd "$destdir" && pwd)
fi

# put SOURCE MODE TARGET: install a packaged file, pointing /opt/tokenstile at the prefix.
put() {
    install -d -m 0755 "$(dirname "$destdir$3")"
    sed "s|/opt/tokenstile|$prefix|g" "$1" > "$destdir$3.tmp"
    chmod "$2" "$destdir$3.tmp"
    mv -f "$destdir$3.tmp" "$destdir$3"
}

# The program: copied beside the old one, then swapped in, so a failed copy leaves the
# installed version working.
target="$destdir$prefix"
install -d -m 0755 "$(dirname "$target")"
rm -rf "$target.new" "$target.old"
cp -a "$bundle" "$target.new"
put "$here/tokenstile-kiosk-session" 0755 "$prefix.new/libexec/tokenstile-kiosk-session"
if [ -d "$checkout/docs" ]; then
    install -d -m 0755 "$target.new/docs"
    cp -a "$checkout/docs/." "$target.new/docs/"
fi
if [ -e "$target" ]; then mv "$target" "$target.old"; fi
mv "$target.new" "$target"
rm -rf "$target.old"

install -d -m 0755 "$destdir/usr/local/bin"
ln -sfn "$prefix/tokenstile" "$destdir/usr/local/bin/tokenstile"

put "$here/tokenstile-server.service" 0644 /etc/systemd/system/tokenstile-server.service
put "$here/tokenstile-kiosk.service" 0644 /etc/systemd/system/tokenstile-kiosk.service
put "$here/70-tokenstile-fido.rules" 0644 /etc/udev/rules.d/70-tokenstile-fido.rules
put "$here/tokenstile-kiosk.pam" 0644 /etc/pam.d/tokenstile-kiosk
put "$here/sysusers-tokenstile.conf" 0644 /etc/sysusers.d/tokenstile.conf
for name in tokenstile-kiosk tokenstile-admin; do
    put "$here/$name.desktop" 0644 "/usr/local/share/applications/$name.desktop"
done
put "$here/icons/tokenstile.svg" 0644 /usr/local/share/icons/hicolor/scalable/apps/tokenstile.svg
for size in 48 128 256; do
    icon="icons/hicolor/${size}x${size}/apps/tokenstile.png"
    install -D -m 0644 "$here/$icon" "$destdir/usr/local/share/$icon"
done

install -d -m 0755 "$destdir/etc/tokenstile"
for config in tokenstile.toml kiosk.toml; do
    if [ ! -e "$destdir/etc/tokenstile/$config" ]; then
        put "$here/$config" 0640 "/etc/tokenstile/$config"
    fi
done

if [ -n "$destdir" ]; then
    echo "Staged Tokenstile under $destdir (prefix $prefix)."
    exit 0
fi

# A real install: create the users, let the service group read its settings, and tell
# systemd, udev and the desktop about the new files.
if command -v systemd-sysusers >/dev/null; then
    systemd-sysusers /etc/sysusers.d/tokenstile.conf
fi
if getent group tokenstile >/dev/null; then
    chgrp tokenstile /etc/tokenstile/tokenstile.toml
fi
if getent group tokenstile-kiosk >/dev/null; then
    chgrp tokenstile-kiosk /etc/tokenstile/kiosk.toml
fi
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
fi
if command -v udevadm >/dev/null && [ -d /run/udev ]; then
    udevadm control --reload-rules
    udevadm trigger --subsystem-match=hidraw
fi
if command -v update-desktop-database >/dev/null; then
    update-desktop-database -q /usr/local/share/applications || true
fi
if command -v gtk-update-icon-cache >/dev/null; then
    gtk-update-icon-cache -q -t /usr/local/share/icons/hicolor || true
fi
cat <<NEXT
Installed Tokenstile in $prefix. Next (docs/admin-guide.md):
  edit /etc/tokenstile/tokenstile.toml, then
  sudo -u tokenstile TOKENSTILE_CONFIG=/etc/tokenstile/tokenstile.toml $prefix/tokenstile manage init
  systemctl enable --now tokenstile-server.service
  (a kiosk: edit /etc/tokenstile/kiosk.toml, then
   systemctl disable getty@tty1.service; systemctl enable --now tokenstile-kiosk.service)
NEXT
