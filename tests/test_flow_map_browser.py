"""The flow map in a real browser: run.py as a process, calls played to it over TCP by the
scripted FreeSWITCH, ``/flows/<name>`` opened in Debian's headless Chromium (Selenium
drives it through chromedriver), and the counts drawn on the steps and arrows compared with
the calls made: before a reload, after it, and while a call is in a step; the page is
never loaded again (it refreshes its numbers itself). Chromium missing is a failure, not
a skip: ``apt-get install -y chromium chromium-driver`` (``.ci/run`` does).

``python -m tests.test_flow_map_browser docs/flow-map.png`` makes the docs' screenshot:
the bundled company flow (flows/main.yaml) after a few calls.
"""

from __future__ import annotations

import shutil
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from flowengine.replay.command_reader import CommandReader
from flowengine.testing.scripted import ScriptedFreeSwitch

ROOT = Path(__file__).resolve().parent.parent

SHOP = """\
name: shop
numbers: ["4000"]
start: hello
steps:
  hello: {answer: {}, next: menu}
  menu:
    menu: {prompt: menu.wav, attempts: 2, timeout: 1s, choices: {"1": sales, "2": support}}
    on: {exhausted: bye}
  sales: {playback: sales.wav, next: bye}
  support: {playback: support.wav, next: bye}
  bye: {hangup: NORMAL_CLEARING}
"""
# the reload: sales goes on to a new step (its ways out change: its counts start again)
SHOP_V2 = SHOP.replace("sales: {playback: sales.wav, next: bye}", (
    "sales: {playback: sales.wav, next: thanks}\n  thanks: {playback: thanks.wav, next: bye}"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Call(threading.Thread):
    """FreeSWITCH's side of one call, scripted; ``pause_at``: the answer to the first
    command that mentions it is held until :meth:`go` (the call stays in that step)."""

    def __init__(self, port: int, destination: str = "4000", pause_at: str | None = None, **scripted) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.fs = ScriptedFreeSwitch(destination=destination, **scripted)
        self.pause_at = pause_at
        self.paused = threading.Event()
        self._go = threading.Event()
        self.error: BaseException | None = None
        self.start()

    def go(self) -> None:
        self._go.set()

    def run(self) -> None:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=15) as sock:
                reader = CommandReader()
                while data := sock.recv(65536):
                    for command in reader.feed(data):
                        if self.pause_at and self.pause_at in command.describe() and not self._go.is_set():
                            self.paused.set()
                            self._go.wait(30)
                    for _, chunk in self.fs.receive(data):
                        sock.sendall(chunk)
        except BaseException as exc:  # reported by done()
            self.error = exc

    def done(self, timeout: float = 20.0) -> None:
        self.join(timeout)
        assert not self.is_alive(), "the call never ended"
        assert self.error is None, self.error


def browser(width: int = 1400, height: int = 1000) -> webdriver.Chrome:
    """Debian's Chromium, headless, through Debian's chromedriver (no browser download)."""
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver is None:
        pytest.fail("the flow map's browser test needs Debian's chromium and chromedriver: "
                    "apt-get update && apt-get install -y chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(driver), options=options)


_SHOWN = """
const shown = {};
for (const e of document.querySelectorAll('[data-id][data-part]')) {
  shown[e.dataset.id + '/' + e.dataset.part] = e.textContent;
}
return {shown: shown, steps: [...document.querySelectorAll('g.step')].map(g => g.dataset.step),
        status: (document.getElementById('status') || {}).textContent, mark: window.__notReloaded === 1};
"""


def shown(page: webdriver.Chrome) -> dict:
    return page.execute_script(_SHOWN)


def wait_shown(page: webdriver.Chrome, expected: dict[str, int], steps: set[str] | None = None,
               timeout: float = 20.0) -> dict:
    """Until the page shows ``expected`` (id -> number since start; the last-5-minutes number
    too, all calls being recent): the page's own refresh brings them."""
    deadline = time.monotonic() + timeout
    while True:
        now = shown(page)
        # a try, a way out and "now" have one number; a step and an arrow two (since start, 5 min)
        wanted = {f"{key}/{part}": str(value) for key, value in expected.items()
                  for part in ((0,) if key.startswith(("t:", "n:", "x:")) else (0, 1))}
        wrong = {key: now["shown"].get(key) for key, value in wanted.items() if now["shown"].get(key) != value}
        wrong_steps = steps is not None and set(now["steps"]) != steps
        if not wrong and not wrong_steps:
            return now
        if time.monotonic() > deadline:
            raise AssertionError(f"the page shows {wrong} (steps {now['steps']}), not {expected}; "
                                 f"its status: {now['status']!r}")
        time.sleep(0.2)


def test_the_map_counts_the_calls_made_and_follows_a_reload(server, tmp_path):
    (tmp_path / "shop.yaml").write_text(SHOP)
    metrics = free_port()
    srv = server("--flows", str(tmp_path), "--metrics", f"127.0.0.1:{metrics}")
    srv.wait_for("metrics on")
    calls = [Call(srv.port, actions=[{"press": "1"}]) for _ in range(3)]
    calls += [Call(srv.port, actions=[{"press": "2"}]) for _ in range(2)]
    calls += [Call(srv.port)]  # no key: no_input twice, exhausted
    calls += [Call(srv.port, actions=[{"hangup": True, "time": "1s"}])]  # hangs up in the menu's prompt
    for call in calls:
        call.done()
    page = browser()
    try:
        page.get(f"http://127.0.0.1:{metrics}/flows/shop")
        page.execute_script("window.__notReloaded = 1")  # gone if the page were loaded again
        wait_shown(page, {
            "s:hello": 7, "a:hello:next": 7, "s:menu": 7, "a:menu:1": 3, "a:menu:2": 2,
            "a:menu:exhausted": 1, "x:menu:gone": 1, "t:menu:no_input": 2,
            "s:sales": 3, "a:sales:next": 3, "s:support": 2, "a:support:next": 2, "s:bye": 6,
            "x:hello:gone": 0, "n:sales": 0,
        }, steps={"hello", "menu", "sales", "support", "bye"})
        assert page.find_element("css selector", '[data-arrow="a:menu:exhausted"]').get_attribute("class") \
            == "arrow bad"  # a way out that fails the caller stands out
        hung_up = page.find_element("css selector", '[data-id="x:menu:gone"]')
        assert "exit" in hung_up.get_attribute("class") and hung_up.value_of_css_property("fill") \
            == "rgb(192, 38, 45)"  # drawn red, not grey
        assert page.find_element("css selector", 'g.step[data-step="sales"]').text.splitlines()[:3] == [
            "sales playback", "shop.yaml:9", "entered 3 · 5 min 3 · now 0"]  # its file:line, as drawn

        held = Call(srv.port, pause_at="sales.wav", actions=[{"press": "1"}])
        assert held.paused.wait(10)
        wait_shown(page, {"n:sales": 1, "s:sales": 4, "a:menu:1": 4})  # in it now: entered, not left
        held.go()
        held.done()
        wait_shown(page, {"n:sales": 0, "s:sales": 4, "a:sales:next": 4, "s:bye": 7})

        (tmp_path / "shop.yaml").write_text(SHOP_V2)
        srv.proc.send_signal(signal.SIGHUP)
        srv.wait_for("reloaded")
        wait_shown(page, {"s:thanks": 0, "s:sales": 0, "a:menu:1": 4},
                   steps={"hello", "menu", "sales", "thanks", "support", "bye"})
        for call in [Call(srv.port, actions=[{"press": "1"}]) for _ in range(2)]:
            call.done()
        now = wait_shown(page, {
            "a:menu:1": 6, "s:menu": 10, "s:sales": 2, "a:sales:next": 2, "s:thanks": 2, "a:thanks:next": 2,
            "s:bye": 9, "a:menu:2": 2, "x:menu:gone": 1,
        })
        assert now["mark"], "the page was loaded again: it must update in place"

        page.get(f"http://127.0.0.1:{metrics}/flows")
        deadline = time.monotonic() + 10
        while page.execute_script("return (document.querySelector('[data-id=\"c:shop\"]') || {}).textContent") \
                != "10" and time.monotonic() < deadline:
            time.sleep(0.1)
        row = page.find_element("css selector", 'tr[data-flow="shop"]')
        assert row.text.split()[:2] == ["shop", "shop.yaml"] and " 10 " in f" {row.text} "
    finally:
        page.quit()
        srv.stop()


def test_with_workers_the_map_adds_up_every_worker_and_says_so(server, tmp_path):
    """Each worker counts its own calls; the page of any one shows all workers' counts
    added up, and says so; ``?worker=this`` shows one worker's and says that."""
    (tmp_path / "shop.yaml").write_text(SHOP)
    port, metrics = free_port(), free_port()
    while port in (metrics, metrics + 1):
        port = free_port()
    srv = server("--flows", str(tmp_path), "--listen", f"127.0.0.1:{port}", "--workers", "2",
                 "--metrics", f"127.0.0.1:{metrics}")
    srv.wait_for("w0 flowengine.metrics")
    srv.wait_for("w1 flowengine.metrics")
    for call in [Call(port, actions=[{"press": "1"}]) for _ in range(20)]:
        call.done()
    page = browser()
    try:
        page.get(f"http://127.0.0.1:{metrics + 1}/flows/shop")
        wait_shown(page, {"s:hello": 20, "a:menu:1": 20, "s:sales": 20, "s:bye": 20})
        assert page.find_element("id", "scope").text == "Counts of all 2 workers, added up."
        each = []
        for worker in (0, 1):
            page.get(f"http://127.0.0.1:{metrics + worker}/flows/shop?worker=this")
            deadline = time.monotonic() + 10
            while not (shown(page)["shown"].get("s:hello/0") or "").isdigit() and time.monotonic() < deadline:
                time.sleep(0.1)
            each.append(int(shown(page)["shown"]["s:hello/0"]))
            assert page.find_element("id", "scope").text.startswith(f"Counts of worker {worker} only, one of 2 workers")
        assert sum(each) == 20 and min(each) > 0, each  # both took calls: all 20 on one has a chance of 2**-19
    finally:
        page.quit()
        srv.stop()


def test_a_200_step_flow_is_laid_out_in_under_a_second(server, tmp_path):
    """dagre lays the flow out in the browser; the page writes how long it took. The best of
    three loads: what the layout costs once the browser has compiled the script."""
    lines = ["name: big", "numbers: ['7000']", "start: s0", "steps:"]
    for i in range(199):
        if i % 3 == 0:
            a, b = min(199, i + 1 + i % 4), min(199, i + 2 + i % 7)
            lines.append(f"  s{i}:\n    menu: {{prompt: a.wav, choices: {{'1': s{a}, '2': s{b}}}}}\n"
                         "    on: {exhausted: s199}")
        else:
            lines.append(f"  s{i}: {{playback: p{i}.wav, next: s{i + 1}}}")
    lines.append("  s199: {hangup: NORMAL_CLEARING}")
    (tmp_path / "big.yaml").write_text("\n".join(lines) + "\n")
    metrics = free_port()
    srv = server("--flows", str(tmp_path), "--metrics", f"127.0.0.1:{metrics}")
    srv.wait_for("metrics on")
    page = browser()
    try:
        took = []
        for _ in range(3):
            page.get(f"http://127.0.0.1:{metrics}/flows/big")
            deadline = time.monotonic() + 30
            while not page.execute_script("return document.body.dataset.layoutMs") and time.monotonic() < deadline:
                time.sleep(0.05)
            took.append(float(page.execute_script("return document.body.dataset.layoutMs")))
            assert len(page.find_elements("css selector", "g.step")) == 200
        assert min(took) < 1000, took
    finally:
        page.quit()
        srv.stop()


def screenshot(out: Path) -> None:
    """The company flow after a few calls, as docs/flow-map.md shows it."""
    from .processes import Server
    metrics = free_port()
    srv = Server("--flows", str(ROOT / "flows"), "--metrics", f"127.0.0.1:{metrics}")
    try:
        srv.wait_for("metrics on")
        plans = [[{"press": "1"}]] * 4 + [[{"press": "2"}]] * 3 + [[]] + [[{"hangup": True, "time": "1s"}]] * 2
        calls = [Call(srv.port, destination="1000", actions=list(plan), bridge={"user/1101": "busy"})
                 for plan in plans]
        for call in calls:
            call.done()
        page = browser(1400, 1400)
        try:
            page.get(f"http://127.0.0.1:{metrics}/flows/main")
            wait_shown(page, {"s:welcome": len(plans)})
            page.execute_script("document.getElementById('canvas').style.maxHeight = 'none'")
            page.set_window_size(1400, page.execute_script("return document.documentElement.scrollHeight") + 160)
            page.save_screenshot(str(out))
        finally:
            page.quit()
    finally:
        srv.stop()


if __name__ == "__main__":
    screenshot(Path(sys.argv[1]))
