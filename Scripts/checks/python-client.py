#!/usr/bin/env python3
"""Exit 0 when the `switchboard` package this Python imports is an installed copy of
clients/python exactly as it is in this tree (every module byte for byte, the same
version, Python requirement and dependencies), else print why and exit 1. Scripts/lib.sh's ensure_python_clients reinstalls
(`pip install ./clients/python`) when it fails, and Tests/python/test_python_client.py fails
with its reason, so the suite always tests the installable package as committed, never a
stale copy or the source tree on sys.path."""
import importlib.metadata
import importlib.util
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SOURCE = os.path.join(ROOT, "clients", "python")
DIST = "switchboard-client"


def modules(directory):
    return {name for name in os.listdir(directory) if name.endswith(".py")}


def pyproject():
    with open(os.path.join(SOURCE, "pyproject.toml")) as f:
        return f.read()


def declared_dependencies():
    match = re.search(r"^dependencies\s*=\s*\[(.*?)\]", pyproject(), re.S | re.M)
    return sorted(re.findall(r'"([^"]+)"', match.group(1))) if match else []


def declared(field):
    match = re.search(rf'^{field}\s*=\s*"([^"]*)"', pyproject(), re.M)
    return match.group(1) if match else None


def problem():
    sys.path = [p for p in sys.path if os.path.abspath(p or ".") not in (ROOT, SOURCE)]
    spec = importlib.util.find_spec("switchboard")
    if spec is None or not spec.submodule_search_locations:
        return "the switchboard package is not installed"
    installed = list(spec.submodule_search_locations)[0]
    source = os.path.join(SOURCE, "switchboard")
    if os.path.realpath(installed) == os.path.realpath(source):
        return f"switchboard is imported from the source tree ({installed}), not installed"
    if modules(installed) != modules(source):
        return f"installed modules {sorted(modules(installed))} differ from {sorted(modules(source))}"
    for name in sorted(modules(source)):
        with open(os.path.join(installed, name), "rb") as a, open(os.path.join(source, name), "rb") as b:
            if a.read() != b.read():
                return f"installed {name} differs from clients/python/switchboard/{name}"
    try:
        requires = sorted(importlib.metadata.requires(DIST) or [])
    except importlib.metadata.PackageNotFoundError:
        return f"no {DIST} distribution metadata"
    if requires != declared_dependencies():
        return f"installed dependencies {requires} differ from pyproject.toml's {declared_dependencies()}"
    metadata = importlib.metadata.metadata(DIST)
    for field, key in (("version", "Version"), ("requires-python", "Requires-Python")):
        if metadata.get(key) != declared(field):
            return f"installed {key} {metadata.get(key)!r} differs from pyproject.toml's {declared(field)!r}"
    return None


if __name__ == "__main__":
    reason = problem()
    if reason:
        print(f"clients/python is not installed as it is in this tree: {reason}")
        sys.exit(1)
