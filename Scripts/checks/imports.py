#!/usr/bin/env python3
"""The module graph, enforced: every `import` in a target's sources names a module that
Package.swift declares for that target (a target or a product), or the toolchain's own
(Foundation, Glibc, XCTest…). SwiftPM's explicit-target check catches undeclared targets but
not undeclared products such as `Logging`; this catches both.

Usage: Scripts/checks/imports.py  (from anywhere; reads `swift package dump-package`)
Exit 1 and one line per violation when a source imports what its target does not declare."""
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOLCHAIN = {"Foundation", "FoundationEssentials", "FoundationNetworking", "Glibc", "Musl", "Darwin",
             "Dispatch", "Synchronization", "XCTest", "Testing", "_Concurrency", "Swift", "os"}
IMPORT = re.compile(r"^\s*(?:@\w+(?:\([^)]*\))?\s+)*(?:(?:public|package|internal|fileprivate|private)\s+)?import\s+(?:(?:struct|class|enum|protocol|func|var|let|typealias)\s+)?([A-Za-z_][A-Za-z0-9_]*)")


def main():
    manifest = json.loads(subprocess.run(["swift", "package", "dump-package"], cwd=ROOT, check=True,
                                         capture_output=True, text=True).stdout)
    violations = []
    checked = 0
    for target in manifest["targets"]:
        if target["type"] == "system":
            continue
        allowed = set(TOOLCHAIN) | {target["name"]}
        for dep in target["dependencies"]:
            kind, value = next(iter(dep.items()))
            allowed.add(value[0])
        default = ("Tests/" if target["type"] == "test" else "Sources/") + target["name"]
        folder = os.path.join(ROOT, target.get("path") or default)
        for base, _, files in os.walk(folder):
            for name in files:
                if not name.endswith(".swift"):
                    continue
                path = os.path.join(base, name)
                with open(path, encoding="utf-8") as source:
                    for number, line in enumerate(source, 1):
                        match = IMPORT.match(line)
                        if not match:
                            continue
                        checked += 1
                        if match.group(1) not in allowed:
                            violations.append(f"{os.path.relpath(path, ROOT)}:{number}: {target['name']} imports "
                                              f"{match.group(1)}, which Package.swift does not declare for it")
    for line in violations:
        print(line)
    print(f"module graph: {checked} imports checked, {len(violations)} undeclared")
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
