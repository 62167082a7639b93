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

# ensure_python_clients — the independent clients the Python tests drive (pip, only when missing).
ensure_python_clients() {
    if ! python3 -c 'import websockets, selenium, pytest, h11, jwt, cryptography, schemathesis, openapi_spec_validator' >/dev/null 2>&1; then
        echo "installing Python test clients (websockets, selenium, pytest, h11, PyJWT, cryptography, schemathesis, openapi-spec-validator)" >&2
        python3 -m pip install -q 'websockets>=12' 'selenium>=4.20' 'pytest>=7' 'h11==0.16.*' 'PyJWT>=2.8' 'cryptography>=42' \
            'schemathesis>=4.0,<5' 'openapi-spec-validator>=0.7' >&2
    fi
    # This repository's own Python client, installed as a user would (`pip install ./clients/python`)
    # whenever the installed copy is missing or differs from the tree (Scripts/checks/python-client.py),
    # so Tests/python/test_python_client.py runs the package as committed. Its build directory stays
    # out of the tree (the copy pip builds from is a temporary one).
    local lib_root
    lib_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    if ! python3 "$lib_root/Scripts/checks/python-client.py" >/dev/null 2>&1; then
        echo "installing the Python client (pip install ./clients/python)" >&2
        local build
        build="$(mktemp -d)"
        cp -r "$lib_root/clients/python/." "$build/"
        rm -rf "$build/build" "$build"/*.egg-info
        # The same version number is already installed after a change: force our package, then
        # let pip add whatever dependency is missing (without reinstalling those that are there).
        python3 -m pip install -q --force-reinstall --no-deps "$build" >&2
        python3 -m pip install -q "$build" >&2
        rm -rf "$build"
        python3 "$lib_root/Scripts/checks/python-client.py" >&2
    fi
}

# What the TLS tests use besides the Python clients: the openssl CLI makes the throwaway PKI,
# curl and sslscan check the server, Chromium subscribes over wss://.
TLS_TEST_PACKAGES=(openssl curl sslscan chromium chromium-driver)

# What Scripts/package.sh and its test use: strip, dpkg-deb's companions, lintian, and
# systemd-analyze (in the systemd package; nothing is started by installing it).
PACKAGE_TEST_PACKAGES=(binutils dpkg-dev lintian systemd)

# The system libraries every build needs.
BUILD_PACKAGES=(libhiredis-dev libssl-dev zlib1g-dev pkg-config)
