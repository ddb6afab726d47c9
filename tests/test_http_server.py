"""The http step in a real run.py process: a real HTTP server on loopback (the standard
library's, in a thread of the test), FreeSWITCH's side scripted over TCP, the metrics
and the log line read from the process."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .test_operations import Call, free_port, get, metric

FLOW = """\
name: crm
numbers: ["3000"]
start: hello
steps:
  hello: {{answer: {{}}, next: lookup}}
  lookup:
    http:
      url: "http://127.0.0.1:{port}/customers?phone=${{caller_id_number}}"
      headers: {{X-Token: "${{env.FLOWENGINE_CRM_TOKEN}}"}}
      timeout: 2s
      save: {{tier: tier}}
    on: {{ok: route, error: sorry, timeout: sorry}}
  route:
    when:
      - if: {{var: tier, equals: vip}}
        goto: vip
    else: sorry
  vip: {{playback: vip.wav, next: bye}}
  sorry: {{playback: sorry.wav, next: bye}}
  bye: {{hangup: NORMAL_CLEARING}}
"""


class Crm(BaseHTTPRequestHandler):
    seen: list[tuple[str, str | None]] = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        Crm.seen.append((self.path, self.headers.get("X-Token")))
        body = json.dumps({"tier": "vip"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_call_looks_the_caller_up_over_http(server, tmp_path, monkeypatch):
    crm = ThreadingHTTPServer(("127.0.0.1", 0), Crm)
    threading.Thread(target=crm.serve_forever, daemon=True).start()
    (tmp_path / "crm.yaml").write_text(FLOW.format(port=crm.server_address[1]))
    monkeypatch.setenv("FLOWENGINE_CRM_TOKEN", "t0ken-value")   # the server process inherits it
    metrics_port = free_port()
    try:
        srv = server("--flows", str(tmp_path), "--metrics", f"127.0.0.1:{metrics_port}")
        srv.wait_for("metrics on")
        commands = Call(srv.port).result()
        line = srv.wait_for("http call=")
        srv.wait_for("call end")
        time.sleep(0.2)
        status, text = get(f"http://127.0.0.1:{metrics_port}/metrics")
        assert srv.stop() == 0
    finally:
        crm.shutdown()
    assert Crm.seen == [("/customers?phone=5551234", "t0ken-value")]
    assert any("vip.wav" in c for c in commands)
    assert "method=GET" in line and "path=/customers?phone=…" in line and "status=200" in line
    assert "5551234" not in line
    assert not any("t0ken-value" in log for log in srv.lines)
    host = f"127.0.0.1:{crm.server_address[1]}"
    assert metric(text, f'flowengine_http_requests_total{{flow="crm",host="{host}",outcome="2xx",step="lookup"}}') == 1
    assert metric(text, f'flowengine_http_request_duration_seconds_count{{flow="crm",host="{host}",step="lookup"}}') == 1
    assert metric(text, 'flowengine_step_duration_seconds_count{step_type="http"}') == 1
