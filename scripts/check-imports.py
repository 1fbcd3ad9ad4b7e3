#!/usr/bin/env python3
"""Holds the package to its declared edges, which the compiler alone does not:

1. every module a target's sources import is a dependency it declares (SwiftPM's explicit import check
   only warns, and only in some builds),
2. every dependency a target declares is imported by its sources (no unused dependencies),
3. each target's dependencies on other Herald targets are exactly those ARCHITECTURE.md lists for it.

Run from the package root: `python3 scripts/check-imports.py` (after `swift package resolve`).
"""
import json
import pathlib
import re
import subprocess
import sys

# Modules of the toolchain, not of any package.
SYSTEM = {"Foundation", "FoundationEssentials", "FoundationNetworking", "Synchronization", "Testing", "Glibc",
          "Musl", "Darwin", "Dispatch", "XCTest", "_Concurrency", "os"}
IMPORT = re.compile(r"^(?:@testable\s+|@preconcurrency\s+|@_spi\(\w+\)\s+|(?:public|package|internal|private|fileprivate)\s+)*"
                    r"import\s+(?:(?:struct|class|enum|protocol|func|var|typealias)\s+)?([A-Za-z_][A-Za-z0-9_]*)")


def imports(folder: pathlib.Path) -> set[str]:
    found = set()
    for source in folder.rglob("*.swift"):
        in_string = False
        for line in source.read_text().splitlines():
            # Skip multi-line string literals: scripts embedded in tests may say `import sys`.
            if line.count('"""') % 2 == 1:
                in_string = not in_string
                continue
            if in_string:
                continue
            match = IMPORT.match(line)
            if match:
                found.add(match.group(1))
    return found


def allowed_edges(architecture: str) -> dict[str, set[str]]:
    """The rows of ARCHITECTURE.md's table: | `Target` | what it is | `A`, `B` |"""
    edges = {}
    for line in architecture.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and re.fullmatch(r"`[A-Za-z0-9-]+`", cells[0]):
            edges[cells[0].strip("`")] = set(re.findall(r"`([A-Za-z0-9-]+)`", cells[2]))
    return edges


def main() -> int:
    root = pathlib.Path(__file__).resolve().parent.parent
    description = json.loads(subprocess.run(
        ["swift", "package", "describe", "--type", "json"], cwd=root, check=True, capture_output=True, text=True
    ).stdout)
    local = {target["name"] for target in description["targets"]}
    edges = allowed_edges((root / "ARCHITECTURE.md").read_text())
    problems = []
    for target in description["targets"]:
        name = target["name"]
        if target.get("module_type") != "SwiftTarget":
            continue
        # Build-tool plugins run at build time and are not imported.
        plugins = {t["name"] for t in description["targets"] if t.get("type") == "plugin"}
        declared_local = set(target.get("target_dependencies", [])) - plugins
        declared = declared_local | set(target.get("product_dependencies", []))
        used = imports(root / target["path"]) - SYSTEM
        for module in sorted(used - declared):
            problems.append(f"{name} imports {module} but does not declare it")
        for module in sorted(declared - used):
            problems.append(f"{name} declares {module} but never imports it")
        if target["type"] != "test":
            if name not in edges:
                problems.append(f"{name} has no row in ARCHITECTURE.md")
            else:
                for module in sorted(declared_local - edges[name]):
                    problems.append(f"{name} depends on {module}, which ARCHITECTURE.md does not allow it")
                for module in sorted(edges[name] - declared_local):
                    problems.append(f"ARCHITECTURE.md gives {name} an edge to {module} that the package does not have")
    for name in sorted(set(edges) - local):
        problems.append(f"ARCHITECTURE.md names {name}, which is not a target")
    for problem in problems:
        print(problem)
    print(f"check-imports: {len(description['targets'])} targets, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
