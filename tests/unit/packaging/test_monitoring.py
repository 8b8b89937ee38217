"""packaging/monitoring: every metric the Grafana dashboard and the alert rules name is one
a real scrape of the service exports (under the sample name the text format gives it)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ROOT, make_deployment
from tokenstile.server.app import create_app

MONITORING = ROOT / "packaging" / "monitoring"
TOKEN = "metrics-token-" + "m" * 24
METRIC = re.compile(r"\btokenstile_[a-z0-9_]+\b")
SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_count", "_sum"),
    "gauge": ("",),
    "summary": ("_count", "_sum", ""),
}


def exported_samples(tmp_path: Path) -> set[str]:
    """Every sample name a scrape of a fresh service can carry (its families by type)."""
    dep = make_deployment(f"sqlite:///{tmp_path / 'ts.db'}", metrics_token=TOKEN)
    try:
        with TestClient(create_app(dep), base_url="https://auth.example") as http:
            text = http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    finally:
        dep.close()
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
    return names


def alert_expressions() -> list[str]:
    rules = yaml.safe_load((MONITORING / "tokenstile-alerts.yml").read_text("utf-8"))
    found = []
    for group in rules["groups"]:
        for rule in group["rules"]:
            assert rule["alert"]
            assert rule["expr"]
            assert rule["annotations"]["summary"]
            found.append(str(rule["expr"]))
    return found


def dashboard_expressions() -> list[str]:
    dashboard = json.loads((MONITORING / "tokenstile-dashboard.json").read_text("utf-8"))
    found = []
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        found.extend(str(target["expr"]) for target in panel["targets"])
    return found


def test_every_metric_named_in_the_dashboard_and_alerts_is_exported(tmp_path: Path) -> None:
    exported = exported_samples(tmp_path)
    expressions = alert_expressions() + dashboard_expressions()
    named = {name for expr in expressions for name in METRIC.findall(expr)}
    assert len(named) >= 15  # the files do cover the service's metrics
    missing = sorted(named - exported)
    assert not missing, f"named in packaging/monitoring but not exported: {missing}"


def test_the_check_catches_a_misspelt_metric(tmp_path: Path) -> None:
    exported = exported_samples(tmp_path)
    assert "tokenstile_logins_total" in exported
    assert "tokenstile_logins" not in exported  # a counter is scraped as ..._total
    assert "tokenstile_login_total" not in exported
