"""The Grafana dashboard and Prometheus alert rules in deployment/monitoring."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import jsonschema
from prometheus_client import REGISTRY
from system_tools import require_tool

import mcp_rag.metrics  # noqa: F401 - registers the metrics

MONITORING = Path(__file__).resolve().parents[1] / "deployment" / "monitoring"
METRIC = re.compile(r"\bmcp_rag_[a-z0-9_]+")
DASHBOARD_SCHEMA = {
    "type": "object",
    "required": ["title", "uid", "panels", "schemaVersion"],
    "properties": {
        "panels": {
            "type": "array",
            "minItems": 8,
            "items": {
                "type": "object",
                "required": ["id", "type", "title", "gridPos", "targets"],
                "properties": {
                    "targets": {
                        "type": "array",
                        "minItems": 1,
                        "items": {"type": "object", "required": ["expr", "refId"]},
                    }
                },
            },
        }
    },
}


def promtool() -> str:
    return require_tool("promtool")


SUFFIXES = {
    "counter": ["_total", "_created"],
    "histogram": ["_bucket", "_sum", "_count", "_created"],
    "info": ["_info"],
}


def known_metric_names() -> set[str]:
    """Every series name our registry can export, even for labelled metrics not observed yet."""
    names = set()
    for metric in REGISTRY.collect():
        names |= {metric.name} | {metric.name + suffix for suffix in SUFFIXES.get(metric.type, [])}
    return names


def referenced(text: str) -> set[str]:
    return {m for m in METRIC.findall(text)}


def test_alert_rules_pass_promtool_check_and_unit_tests():
    check = subprocess.run(
        [promtool(), "check", "rules", str(MONITORING / "alerts.yml")], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    unit = subprocess.run(
        [promtool(), "test", "rules", "alerts.test.yml"], cwd=MONITORING, capture_output=True, text=True
    )
    assert unit.returncode == 0, unit.stdout + unit.stderr


def test_dashboard_loads_and_covers_the_runbook_panels():
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    jsonschema.validate(dashboard, DASHBOARD_SCHEMA)
    titles = " ".join(p["title"].lower() for p in dashboard["panels"])
    for needed in ("request rate", "error rate", "p95", "ingest", "pool", "llm latency", "tokens"):
        assert needed in titles, needed
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_every_metric_the_dashboard_and_alerts_use_is_one_we_export():
    known = known_metric_names()
    texts = [
        (MONITORING / "alerts.yml").read_text(),
        json.dumps([t["expr"] for p in json.loads((MONITORING / "grafana-dashboard.json").read_text())["panels"]
                    for t in p["targets"]]),
    ]  # fmt: skip
    used = set().union(*(referenced(t) for t in texts))
    assert used, "no mcp-rag metric referenced"
    missing = sorted(name for name in used if name not in known)
    assert missing == [], f"referenced but not exported: {missing}"


def test_every_alert_is_made_to_fire_by_the_promtool_unit_tests():
    import yaml

    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    tests = yaml.safe_load((MONITORING / "alerts.test.yml").read_text())["tests"]
    fired = {c["alertname"] for t in tests for c in t.get("alert_rule_test", []) if c.get("exp_alerts")}
    assert alerts - fired == set(), "alerts no promtool test makes fire"
