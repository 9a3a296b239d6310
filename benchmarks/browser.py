"""Headless Chromium driven over the DevTools protocol (CDP): open a page, run JavaScript in it,
press keys, take screenshots, and collect what its console said. Used by the web view's browser
tests and by the benchmark's first-paint measurement; no driver to install but Debian's
``chromium`` (``make chromium``).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.workers import stop_process

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LISTENING = re.compile(r"DevTools listening on (ws://\S+)")


class BrowserError(RuntimeError):
    pass


class Browser:
    """One headless Chromium with one page. Synchronous: each call runs the protocol's
    exchange on the object's own event loop."""

    def __init__(self, width: int = 1280, height: int = 900) -> None:
        # Chromium's helper processes may still write to the profile as it exits.
        self.profile = tempfile.TemporaryDirectory(prefix="energy-chromium-",
                                                   ignore_cleanup_errors=True)
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", "--disable-dev-shm-usage", "--remote-debugging-port=0",
             f"--user-data-dir={self.profile.name}", f"--window-size={width},{height}",
             "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.loop = asyncio.new_event_loop()
        self.ids = itertools.count(1)
        self.console: list[str] = []  # errors: console.error, exceptions, failed loads
        self.events: list[dict[str, Any]] = []
        endpoint = self._endpoint()
        self.loop.run_until_complete(self._connect(endpoint, width, height))

    def _endpoint(self) -> str:
        assert self.proc.stderr is not None
        deadline = time.monotonic() + 30
        seen = []
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line and self.proc.poll() is not None:
                break
            seen.append(line)
            found = LISTENING.search(line)
            if found:
                return found.group(1)
        raise BrowserError(f"chromium did not start: {''.join(seen)[-2000:]}")

    async def _connect(self, endpoint: str, width: int, height: int) -> None:
        port = endpoint.split(":")[2].split("/")[0]
        self.session = aiohttp.ClientSession()
        async with self.session.get(f"http://127.0.0.1:{port}/json/list") as answer:
            targets = await answer.json(content_type=None)
        page = next(t for t in targets if t["type"] == "page")
        self.ws = await self.session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0)
        for method in ("Page.enable", "Runtime.enable", "Log.enable", "Network.enable"):
            await self._call(method)
        await self._call("Emulation.setDeviceMetricsOverride",
                         {"width": width, "height": height, "deviceScaleFactor": 1,
                          "mobile": False})

    async def _call(self, method: str, params: dict[str, Any] | None = None,
                    timeout: float = 60) -> dict[str, Any]:
        call_id = next(self.ids)
        await self.ws.send_str(json.dumps({"id": call_id, "method": method,
                                           "params": params or {}}))
        async with asyncio.timeout(timeout):
            while True:
                message = await self.ws.receive()
                if message.type != aiohttp.WSMsgType.TEXT:
                    raise BrowserError(f"the DevTools connection closed ({message.type})")
                data = json.loads(message.data)
                if data.get("id") == call_id:
                    if "error" in data:
                        raise BrowserError(f"{method}: {data['error']}")
                    return dict(data.get("result", {}))
                self._event(data)

    def _event(self, data: dict[str, Any]) -> None:
        method, params = data.get("method", ""), data.get("params", {})
        self.events.append(data)
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            args = " ".join(str(a.get("value", a.get("description", "")))
                            for a in params.get("args", []))
            self.console.append(f"console.{params['type']}: {args}")
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = details.get("exception", {}).get("description") or details.get("text")
            self.console.append(f"exception: {text}")
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            self.console.append(f"log: {entry.get('text')} {entry.get('url', '')}".strip())

    # --- what the tests and the benchmark use --------------------------------------------

    def open(self, url: str, ready: str = "document.body.dataset.loaded === 'true'",
             timeout: float = 30) -> float:
        """Navigate and wait until ``ready`` is true; returns the seconds that took."""
        started = time.monotonic()
        self.loop.run_until_complete(self._call("Page.navigate", {"url": url}))
        self.wait(ready, timeout)
        return time.monotonic() - started

    def wait(self, condition: str, timeout: float = 30) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(f"(() => {{ try {{ return {condition}; }} "
                                  "catch (e) { return false; } })()")
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(f"not true within {timeout:g}s: {condition}; console: "
                                   f"{self.console[-5:]}")
            time.sleep(0.05)

    def evaluate(self, expression: str, timeout: float = 60) -> Any:
        result = self.loop.run_until_complete(self._call("Runtime.evaluate", {
            "expression": expression, "awaitPromise": True, "returnByValue": True},
            timeout=timeout))
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise BrowserError(details.get("exception", {}).get("description")
                               or details.get("text"))
        return result.get("result", {}).get("value")

    def press(self, key: str, text: str = "") -> None:
        """A key as the keyboard sends it: ``Tab``, ``Enter``, ``Space``; ``text`` for a
        character."""
        codes = {"Tab": 9, "Enter": 13, "Space": 32, "Escape": 27}
        base = {"key": " " if key == "Space" else key,
                "windowsVirtualKeyCode": codes.get(key, 0)}
        if key == "Enter":
            base["text"] = "\r"
        if text:
            base = {"key": text, "text": text}
        for kind in ("keyDown", "keyUp"):
            params = dict(base)
            if kind == "keyUp":
                params.pop("text", None)
            self.loop.run_until_complete(
                self._call("Input.dispatchKeyEvent", {"type": kind, **params}))

    def type(self, text: str) -> None:
        self.loop.run_until_complete(self._call("Input.insertText", {"text": text}))

    def screenshot(self, path: Path) -> Path:
        shot = self.loop.run_until_complete(self._call("Page.captureScreenshot",
                                                       {"format": "png"}))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def close(self) -> None:
        async def shut() -> None:
            await self.ws.close()
            await self.session.close()

        try:
            self.loop.run_until_complete(shut())
        finally:
            self.loop.close()
            stop_process(self.proc, 10)
            self.profile.cleanup()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
