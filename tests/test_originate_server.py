"""``POST /calls`` on a running server (``run.py`` as a process): the options that turn it on,
the call it starts through a fake inbound FreeSWITCH, and that call routed back into the same
server by its token and run with its variables."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys

import pytest

from flowengine.runtime import call_token

from .originate_freeswitch import OriginateFreeSwitch
from .processes import ROOT, Server
from .test_operations import free_port
from .test_originate_token import FRONT, REMINDER, VALUES

KEY = b"originate-key-for-tests-0123456789"
TOKEN = "bearer-token-for-tests-0123456789"


def request(port: int, method: str, path: str, body: dict | None = None, token: str | None = TOKEN):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    conn.request(method, path, body=json.dumps(body).encode() if body is not None else None, headers=headers)
    response = conn.getresponse()
    text = response.read()
    conn.close()
    return response.status, json.loads(text) if text.strip() else {}


@pytest.fixture
def files(tmp_path):
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "reminder.yaml").write_text(REMINDER)
    (flows / "front.yaml").write_text(FRONT)
    (tmp_path / "originate.key").write_bytes(KEY)
    (tmp_path / "api.token").write_text(TOKEN + "\n")
    return tmp_path


def test_a_call_queued_on_the_api_comes_back_to_the_server_and_runs_its_flow(files):
    fs = OriginateFreeSwitch()
    listen, metrics = free_port(), free_port()
    server = Server(
        "--flows", str(files / "flows"), "--metrics", str(metrics), "--originate-key", str(files / "originate.key"),
        "--calls-api-token", str(files / "api.token"), "--originate-allow", "loopback/",
        "--originate-freeswitch", f"127.0.0.1:{fs.port}", "--originate-engine", f"127.0.0.1:{listen}",
        "--originate-rate", "50", "--listen", f"127.0.0.1:{listen}")
    try:
        assert request(metrics, "POST", "/calls", {"to": "loopback/7001", "flow": "reminder"}, token=None)[0] == 401
        status, body = request(metrics, "POST", "/calls", {"to": "sofia/gateway/x/7001", "flow": "reminder"})
        assert status == 403, body  # not an allowed prefix: nothing dialled
        status, body = request(metrics, "POST", "/calls", {"to": "loopback/7001", "flow": "reminder",
                                                           "vars": VALUES})
        assert status == 202, body
        fs.wait_for(lambda: fs.originated and fs.originated[0].ended is not None)
        [call] = fs.originated
        assert call.dial == "loopback/7001"
        assert call.argv[1] == f"&socket(127.0.0.1:{listen} async full)"
        # the server took FreeSWITCH's connection back and ran the flow the token names with its values
        assert call.channel.vars["seen_who"] == VALUES["who"]
        assert call.channel.vars["seen_appointment"] == VALUES["appointment"]
        assert call.channel.vars[call_token.RESULT_VARIABLE] == "hangup"
        assert VALUES["who"] not in call.line
        fs.wait_for(lambda: request(metrics, "GET", f"/calls/{body['id']}")[1].get("state") == "done")
    finally:
        assert server.stop() == 0
        fs.close()


@pytest.mark.parametrize("missing", ["--originate-key", "--originate-allow", "--originate-freeswitch"])
def test_the_api_without_what_it_needs_is_a_start_error_naming_it(files, missing):
    options = {
        "--originate-key": str(files / "originate.key"),
        "--originate-allow": "loopback/",
        "--originate-freeswitch": "127.0.0.1:8021",
    }
    del options[missing]
    argv = [sys.executable, str(ROOT / "run.py"), "--listen", "127.0.0.1:0", "--flows", str(files / "flows"),
            "--metrics", "0", "--calls-api-token", str(files / "api.token"),
            "--originate-engine", "127.0.0.1:9000"]
    for option, value in options.items():
        argv += [option, value]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert f"--calls-api-token needs {missing}" in done.stderr
