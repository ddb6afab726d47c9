"""deploy/grafana/flowengine.json queries only what a running server exposes."""

from __future__ import annotations

import json
import re
from pathlib import Path

from .test_operations import free_port, get

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "deploy" / "grafana" / "flowengine.json"

#: a metric name in PromQL: flowengine_…, not part of a longer word
_NAME = re.compile(r"(?<![A-Za-z0-9_:])(flowengine_[A-Za-z0-9_:]*)")
#: a selector with matchers: name{label op "value", …}
_SELECTOR = re.compile(r"(flowengine_[A-Za-z0-9_:]*)\{([^}]*)\}")
_MATCHER = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)\s*"')
#: what Prometheus adds to every series it scrapes
_TARGET_LABELS = {"instance", "job"}


def queries(dashboard: dict) -> list[str]:
    """Every PromQL expression in it: panel targets, variables, annotations."""
    found = []
    def panels(items):
        for panel in items:
            yield panel
            yield from panels(panel.get("panels", []))
    for panel in panels(dashboard["panels"]):
        found += [target["expr"] for target in panel.get("targets", [])]
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        if variable.get("type") == "query":
            found.append(query["query"] if isinstance(query, dict) else query)
    found += [a["expr"] for a in dashboard.get("annotations", {}).get("list", []) if "expr" in a]
    return found


def exposed(text: str) -> dict[str, set[str]]:
    """Sample name (exactly as PromQL selects it: with _total, _bucket …) -> its label names."""
    samples: dict[str, set[str]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, rest = line.partition("{")
        if not rest:
            name = line.split(" ")[0]
        labels = set(re.findall(r'([A-Za-z_][A-Za-z0-9_]*)="', rest.rsplit("}", 1)[0])) if rest else set()
        samples.setdefault(name, set()).update(labels)
    return samples


def test_every_metric_the_dashboard_queries_is_exposed_by_a_server_that_has_taken_no_call(server):
    dashboard = json.loads(DASHBOARD.read_text())
    port = free_port()
    srv = server("--flows", str(ROOT / "flows"), "--metrics", f"127.0.0.1:{port}")
    srv.wait_for("metrics on")
    status, text = get(f"http://127.0.0.1:{port}/metrics")
    assert status == 200
    samples = exposed(text)
    exprs = queries(dashboard)
    assert len(exprs) >= 15
    used = set()
    for expr in exprs:
        names = _NAME.findall(expr)
        assert names, f"queries no flowengine metric: {expr}"
        for name in names:
            assert name in samples, f"{name} (in {expr!r}) is not exposed; exposed: {sorted(samples)}"
            used.add(name)
        for name, matchers in _SELECTOR.findall(expr):
            for label in set(_MATCHER.findall(matchers)) - _TARGET_LABELS:
                assert label in samples[name], f"{name} has no label {label!r} (in {expr!r})"
    # what the dashboard is for: calls, where callers go, reloads, durations, protocol errors
    assert {"flowengine_calls_active", "flowengine_calls_total", "flowengine_step_outcomes_total",
            "flowengine_menu_attempts_total", "flowengine_flow_reloads_total",
            "flowengine_step_duration_seconds_bucket", "flowengine_esl_protocol_errors_total",
            "flowengine_flow_set_info", "flowengine_build_info"} <= used
    assert srv.stop() == 0


def test_the_dashboard_is_a_grafana_model_with_a_datasource_variable():
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert any(v["type"] == "datasource" and v["query"] == "prometheus" for v in dashboard["templating"]["list"])
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}" and panel["targets"], panel["title"]
