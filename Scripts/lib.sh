#!/usr/bin/env bash
# Shared helpers for the Scripts/: package installs that run only when something is missing.

# ensure_packages PKG... — apt-get install the Debian packages that are not installed yet.
ensure_packages() {
    local missing=()
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "installing: ${missing[*]}" >&2
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# ensure_swift — the toolchain must already be on PATH (it is not a Debian package).
ensure_swift() {
    if ! command -v swift >/dev/null 2>&1; then
        [ -x /opt/swift/usr/bin/swift ] && export PATH="/opt/swift/usr/bin:$PATH"
    fi
    command -v swift >/dev/null 2>&1 || { echo "swift 6 toolchain not found on PATH" >&2; exit 1; }
}

# The system libraries every build needs.
BUILD_PACKAGES=(libhiredis-dev libssl-dev pkg-config)
