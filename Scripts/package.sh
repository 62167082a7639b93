#!/usr/bin/env bash
# Builds switchboard_<version>_<arch>.deb into OUT_DIR (default ./dist) and prints its path:
# the release binary with the Swift runtime linked statically (so the package depends only on
# Debian packages: hiredis, OpenSSL, libstdc++, libc), a hardened systemd unit (Type=notify),
# /etc/switchboard/switchboard.env as a conffile (from .env.example) and the README.
#   Scripts/package.sh [OUT_DIR]
# The release build is incremental: a second run reuses it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/Scripts/lib.sh"
ensure_swift
ensure_packages "${BUILD_PACKAGES[@]}" binutils dpkg-dev
cd "$root"

out="$(mkdir -p "${1:-$root/dist}" && cd "${1:-$root/dist}" && pwd)"
maintainer="${DEB_MAINTAINER:-Switchboard maintainers <switchboard@example.org>}"

swift build -c release --product switchboard --static-swift-stdlib >&2
binary="$(swift build -c release --show-bin-path)/switchboard"
version="$("$binary" --version)"
arch="$(dpkg --print-architecture)"
deb="$out/switchboard_${version}_${arch}.deb"

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
chmod 0755 "$stage"

install -D -m 0755 "$binary" "$stage/usr/bin/switchboard"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$stage/usr/bin/switchboard"
install -D -m 0644 Scripts/debian/switchboard.service "$stage/lib/systemd/system/switchboard.service"

# The settings file: .env.example as documented, but listening on loopback only until the
# operator sets HOST (with an API_KEY) on purpose. It may hold API_KEY: root-only.
install -d -m 0755 "$stage/etc/switchboard"
{
    echo "# Switchboard settings, read by switchboard.service (EnvironmentFile=). Every setting:"
    echo "# /usr/share/doc/switchboard/README.md.gz, section Configuration. Restart to apply."
    echo "# The package listens on 127.0.0.1 only: set HOST (and API_KEY) to serve other hosts."
    echo
    sed 's/^HOST=0\.0\.0\.0$/HOST=127.0.0.1/' .env.example
} > "$stage/etc/switchboard/switchboard.env"
chmod 0600 "$stage/etc/switchboard/switchboard.env"
grep -qx 'HOST=127.0.0.1' "$stage/etc/switchboard/switchboard.env" || { echo "package.sh: HOST=0.0.0.0 not found in .env.example" >&2; exit 1; }

doc="$stage/usr/share/doc/switchboard"
install -d -m 0755 "$doc"
gzip -9n < README.md > "$doc/README.md.gz"
install -m 0644 Scripts/debian/copyright "$doc/copyright"
commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
{
    echo "switchboard ($version) unstable; urgency=medium"
    echo
    echo "  * Built by Scripts/package.sh from commit $commit."
    echo
    echo " -- $maintainer  $(date -R -d "@$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)")"
} | gzip -9n > "$doc/changelog.gz"
chmod 0644 "$doc"/*

# Depends: the Debian package of every shared library the binary loads.
depends="$(ldd "$stage/usr/bin/switchboard" | awk '/=> \// { print $3 }' | while read -r lib; do
    dpkg -S "$(readlink -f "$lib")" 2>/dev/null || dpkg -S "$lib"
done | cut -d: -f1 | sort -u | paste -sd, - | sed 's/,/, /g')"
case "$depends" in *swift*|*Foundation*) echo "package.sh: the Swift runtime is linked dynamically: $depends" >&2; exit 1 ;; esac

install -d -m 0755 "$stage/DEBIAN"
cat > "$stage/DEBIAN/control" <<CONTROL
Package: switchboard
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $(du -sk --exclude=DEBIAN "$stage" | cut -f1)
Depends: $depends
Section: net
Priority: optional
Description: multi-instance event broadcast hub (REST in, WebSocket out)
 Switchboard takes events from agents over REST and delivers them to
 dashboards over WebSocket or Server-Sent Events, each client receiving only
 the sessions it subscribed to. Several instances share state and hear each
 other through Redis; without Redis it keeps everything in memory, within
 MEMORY_STORE_MAX_BYTES.
 .
 This package runs it as the systemd service switchboard.service (a dynamic
 user, a read-only system, Type=notify); settings are in
 /etc/switchboard/switchboard.env.
CONTROL
echo "/etc/switchboard/switchboard.env" > "$stage/DEBIAN/conffiles"
(cd "$stage" && find usr lib -type f -exec md5sum {} + | sort -k2) > "$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/conffiles" "$stage/DEBIAN/md5sums"

dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >&2
echo "$deb"
