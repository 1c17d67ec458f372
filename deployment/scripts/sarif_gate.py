#!/usr/bin/env python3
"""Fail when a SARIF report (CodeQL's) has findings that must block a merge.

    sarif_gate.py results/python.sarif [more.sarif ...]

Blocking: a result at level `error`, or a result of a rule tagged `security`
whose `security-severity` is at least --min-severity (default 4.0: medium,
high and critical). Quality notes and warnings are listed in code scanning,
not gated. Prints one line per blocking finding; exit 1 when there is any.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def blocking(report: dict[str, Any], min_severity: float) -> list[str]:
    found = []
    for run in report.get("runs", []):
        rules: dict[str, dict] = {}
        for component in [run.get("tool", {}).get("driver", {}), *run.get("tool", {}).get("extensions", [])]:
            for rule in component.get("rules", []):
                rules[rule.get("id", "")] = rule
        for result in run.get("results", []):
            rule = rules.get(result.get("ruleId", ""), {})
            props = rule.get("properties", {})
            level = result.get("level") or rule.get("defaultConfiguration", {}).get("level", "warning")
            try:
                severity = float(props.get("security-severity", 0))
            except ValueError:
                severity = 0.0
            security = "security" in props.get("tags", [])
            if level == "error" or (security and severity >= min_severity):
                location = result.get("locations", [{}])[0].get("physicalLocation", {})
                uri = location.get("artifactLocation", {}).get("uri", "?")
                where = f"{uri}:{location.get('region', {}).get('startLine', '?')}"
                found.append(
                    f"{where}: {result.get('ruleId')} ({level}, severity {severity}): "
                    f"{result.get('message', {}).get('text', '')}"
                )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reports", nargs="+", type=Path)
    parser.add_argument("--min-severity", type=float, default=4.0)
    args = parser.parse_args(argv)
    found = []
    for path in args.reports:
        files = sorted(path.glob("*.sarif")) if path.is_dir() else [path]
        for file in files:
            found += blocking(json.loads(file.read_text()), args.min_severity)
    for line in found:
        print(line)
    print(f"{len(found)} blocking finding(s)", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
