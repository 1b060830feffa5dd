"""The HTML report in a real headless Chromium, driven over the DevTools protocol: it
renders with no console errors, every chart image loads, and work items titled
``<script>alert(1)</script>`` / ``<img src=x onerror=alert(1)>`` show as text (no dialog,
no element created from them). A screenshot is saved under the test's tmp_path."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from reportkit import AS_OF, IMG_TITLE, MARKUP_TITLE, SCRIPT_TITLE, synced_project

from pmohub.aggregator.report.build import build_report
from pmohub.aggregator.report.render import write_report

CHROMIUM = next(
    (
        p
        for p in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser"))
        if p and Path(p).exists()
    ),
    None,
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="chromium not installed (.ci/run installs it)",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DevTools:
    """A minimal CDP client over websocket-client: commands with ids, events collected."""

    def __init__(self, ws_url: str) -> None:
        import websocket

        self.ws = websocket.create_connection(ws_url, timeout=30, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        my_id = self.next_id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def wait_event(self, method: str, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        for e in self.events:
            if e["method"] == method:
                return e
        while time.monotonic() < deadline:
            msg = json.loads(self.ws.recv())
            if "method" in msg:
                self.events.append(msg)
                if msg["method"] == method:
                    return msg
        raise TimeoutError(method)

    def evaluate(self, expression: str) -> Any:
        res = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in res:
            raise RuntimeError(res["exceptionDetails"])
        return res["result"].get("value")

    def close(self) -> None:
        self.ws.close()


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[DevTools]:
    assert CHROMIUM, "chromium is required in CI"
    port = _free_port()
    proc = subprocess.Popen(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-dev-shm-usage",
            f"--user-data-dir={tmp_path / 'chromium-profile'}",
            f"--remote-debugging-port={port}",
            "--remote-allow-origins=*",
            "--window-size=1200,1800",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        targets: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as r:
                    targets = [t for t in json.load(r) if t.get("type") == "page"]
                if targets:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        assert targets, "chromium did not open its DevTools port"
        cdp = DevTools(targets[0]["webSocketDebuggerUrl"])
        try:
            yield cdp
        finally:
            cdp.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def report_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("browser")
    config, engine = synced_project(d / "proj", report_language="zh")
    report = build_report(engine, config, as_of=AS_OF, portfolio="PF", monthly=True)
    engine.dispose()
    return write_report(report, "html", d / "report.html", "zh")


def test_report_renders_in_chromium_without_errors_and_escapes_titles(
    chromium: DevTools, report_file: Path, tmp_path: Path
) -> None:
    cdp = chromium
    for domain in ("Page", "Runtime", "Log"):
        cdp.call(f"{domain}.enable")
    cdp.call("Page.navigate", url=report_file.as_uri())
    cdp.wait_event("Page.loadEventFired")

    # Every image (the four embedded charts) decoded: naturalWidth > 0.
    images = cdp.evaluate(
        "Array.from(document.images).map(i => ({src: i.getAttribute('src').slice(0, 22),"
        " complete: i.complete, w: i.naturalWidth, h: i.naturalHeight}))"
    )
    assert len(images) == 4, images
    assert all(i["complete"] and i["w"] > 0 and i["h"] > 0 for i in images), images
    assert all(i["src"] == "data:image/png;base64," for i in images)

    # The hostile titles are text: no script element, no <img src=x>, visible verbatim.
    assert cdp.evaluate("document.scripts.length") == 0
    assert cdp.evaluate("document.querySelectorAll('img[src=\"x\"], b').length") == 0
    text = cdp.evaluate("document.body.innerText")
    assert SCRIPT_TITLE in text
    assert IMG_TITLE in text
    assert MARKUP_TITLE in text
    assert "总体概述" in text and "趋势分析" in text  # Chinese headings, monthly trends
    # Cells holding them are plain text nodes.
    cells = cdp.evaluate(
        "Array.from(document.querySelectorAll('td')).filter(td => td.textContent.includes("
        "'alert(1)')).map(td => td.children.length)"
    )
    assert cells and all(n == 0 for n in cells)

    # Full-page screenshot under the test output.
    height = cdp.evaluate("document.documentElement.scrollHeight")
    shot = cdp.call(
        "Page.captureScreenshot",
        format="png",
        captureBeyondViewport=True,
        clip={"x": 0, "y": 0, "width": 1200, "height": min(int(height), 6000), "scale": 1},
    )
    png = base64.b64decode(shot["data"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    (tmp_path / "report.png").write_bytes(png)

    # Nothing fired: no dialog (alert), no exception, no console error, no failed load.
    methods = [e["method"] for e in cdp.events]
    assert "Page.javascriptDialogOpening" not in methods
    assert "Runtime.exceptionThrown" not in methods
    errors = [
        e["params"]
        for e in cdp.events
        if (e["method"] == "Runtime.consoleAPICalled" and e["params"]["type"] == "error")
        or (e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
    ]
    assert errors == []


def test_report_html_is_self_contained(report_file: Path) -> None:
    html = report_file.read_text(encoding="utf-8")
    # No external fetches: every src is a data URI, no stylesheet or script links.
    assert re.findall(r'src="(?!data:image/png;base64,)', html) == []
    assert "<link" not in html and "<script" not in html and "<style" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
