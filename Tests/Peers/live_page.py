#!/usr/bin/env python3
"""Opens Spindle's live page (GET /_spindle/ on the admin listener) in headless Chromium and
drives it over the DevTools protocol, in real time (the page polls its stats every second).

    live_page.py sample URL COUNT INTERVAL
        Waits until the page holds two samples, then reads what it shows COUNT times, INTERVAL
        seconds apart; prints each reading as `sample {json}`: the data-value of every figure
        tile, the number of samples, the status line, the route table's rows and whether each
        chart's canvas has pixels drawn. Then `done`. The caller judges the readings.
    live_page.py screenshot URL OUT.png SECONDS
        Waits SECONDS with the page open, then writes a 1280x1000 screenshot to OUT.png; `done`.
    live_page.py load BASE_URL SECONDS CLIENTS
        Puts a mixed load on an Examples/Hello server at BASE_URL (127.0.0.1 only) for SECONDS:
        CLIENTS keep-alive connections sending GET /plaintext, /json, /users/N, /sleep?ms=N,
        POST /echo and a missing path in a fixed proportion, the rate rising and falling over a
        minute. Prints the requests sent, then `done`.

Uses the `chromium` on PATH (CHROMIUM overrides it) with --headless --no-sandbox --disable-gpu
and a fresh profile in a temporary directory; Python's `websockets` (asyncio API, any version
>= 10) speaks the protocol. Exits 1 with `FAIL ...` when the browser or the page does not
answer in time; 2 when Chromium cannot be started at all.
"""
import asyncio
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

WIDTH, HEIGHT = 1280, 1000

READ_PAGE = """(() => {
  const value = id => { const e = document.getElementById(id); return e ? e.dataset.value : null; };
  const drawn = [...document.querySelectorAll('canvas')].map(c => {
    const g = c.getContext('2d'), d = g.getImageData(0, 0, c.width, c.height).data;
    let painted = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) painted++;
    return { id: c.parentElement.id, painted };
  });
  return JSON.stringify({
    samples: Number(document.body.dataset.samples),
    status: document.getElementById('status').textContent,
    server: document.getElementById('server').textContent,
    values: Object.fromEntries(['rps', 'p50', 'p90', 'p99', 'requests-total', 'connections-open', 'fibers-live', 'rss']
      .map(id => [id, value(id)])),
    legends: Object.fromEntries([...document.querySelectorAll('.chart')].map(c => [c.id, c.querySelector('.legend').textContent])),
    routes: [...document.querySelectorAll('#routes tr[data-route]')].map(r => ({
      route: r.dataset.route, rate: r.dataset.rate, total: r.dataset.total,
      cells: [...r.children].map(td => td.textContent) })),
    charts: drawn,
  });
})()"""


class Browser:
    """A headless Chromium and one DevTools connection to its page."""

    def __init__(self):
        self.profile = tempfile.mkdtemp(prefix="spindle-live-page-")
        binary = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
        if not binary:
            print("FAIL no chromium on PATH", flush=True)
            sys.exit(2)
        try:
            self.process = subprocess.Popen(
                [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
                 "--disable-extensions", "--disable-background-networking", "--hide-scrollbars",
                 f"--window-size={WIDTH},{HEIGHT}", "--remote-debugging-port=0", f"--user-data-dir={self.profile}",
                 "about:blank"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except OSError as error:
            print(f"FAIL chromium cannot be started: {error}", flush=True)
            sys.exit(2)
        self.next_id = 0

    def endpoint(self, timeout=45):
        """The page target's DevTools WebSocket URL, once the browser has written its port."""
        active = os.path.join(self.profile, "DevToolsActivePort")
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.process.poll() is not None:
                print(f"FAIL chromium exited with status {self.process.returncode}", flush=True)
                sys.exit(2)
            try:
                port = int(open(active).read().split()[0])
                targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5))
                pages = [t for t in targets if t.get("type") == "page"]
                if pages:
                    return pages[0]["webSocketDebuggerUrl"]
            except (OSError, ValueError, IndexError):
                pass
            time.sleep(0.1)
        print("FAIL chromium did not open its DevTools port in time", flush=True)
        sys.exit(1)

    async def call(self, ws, method, **params):
        """Sends one command and returns its result (events in between are skipped)."""
        self.next_id += 1
        ident = self.next_id
        await ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    async def evaluate(self, ws, expression):
        result = await self.call(ws, "Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def close(self):
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


async def open_page(browser, ws, url):
    await browser.call(ws, "Emulation.setDeviceMetricsOverride", width=WIDTH, height=HEIGHT,
                       deviceScaleFactor=1, mobile=False)
    await browser.call(ws, "Page.enable")
    await browser.call(ws, "Page.navigate", url=url)


async def wait_for_samples(browser, ws, count, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        samples = await browser.evaluate(ws, "Number(document.body && document.body.dataset.samples) || 0")
        if samples and samples >= count:
            return True
        await asyncio.sleep(0.2)
    status = await browser.evaluate(ws, "(document.getElementById('status') || {}).textContent")
    print(f"FAIL the page did not hold {count} samples within {timeout} s (status: {status})", flush=True)
    return False


async def sample(url, count, interval):
    import websockets
    browser = Browser()
    try:
        async with websockets.connect(browser.endpoint(), max_size=None) as ws:
            await open_page(browser, ws, url)
            if not await wait_for_samples(browser, ws, 2, 30):
                return 1
            for index in range(count):
                if index > 0:
                    await asyncio.sleep(interval)
                print("sample " + await browser.evaluate(ws, READ_PAGE), flush=True)
        print("done", flush=True)
        return 0
    finally:
        browser.close()


async def screenshot(url, out, seconds):
    import websockets
    browser = Browser()
    try:
        async with websockets.connect(browser.endpoint(), max_size=None) as ws:
            await open_page(browser, ws, url)
            if not await wait_for_samples(browser, ws, 2, 30):
                return 1
            await asyncio.sleep(seconds)
            shot = await browser.call(ws, "Page.captureScreenshot", format="png")
            with open(out, "wb") as file:
                file.write(base64.b64decode(shot["data"]))
        print(f"wrote {out}", flush=True)
        print("done", flush=True)
        return 0
    finally:
        browser.close()


def load(base, seconds, clients):
    import http.client
    import math
    import random
    import threading
    import urllib.parse
    address = urllib.parse.urlsplit(base)
    if address.hostname not in ("127.0.0.1", "localhost"):
        print("FAIL load is for a server on 127.0.0.1", flush=True)
        return 1
    end = time.monotonic() + seconds
    sent = [0] * clients
    mix = ["/plaintext"] * 10 + ["/json"] * 5 + ["/users/{n}"] * 4 + ["/sleep?ms={ms}"] + ["echo"] * 2 + ["/missing"]

    def client(index):
        rng = random.Random(index)
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
        while time.monotonic() < end:
            path = rng.choice(mix).format(n=rng.randrange(1000), ms=rng.choice([1, 2, 5, 20]))
            try:
                if path == "echo":
                    connection.request("POST", "/echo", body=b"x" * rng.choice([16, 512, 8192]))
                else:
                    connection.request("GET", path)
                connection.getresponse().read()
                sent[index] += 1
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
            # A rate that rises and falls over a minute: fewer clients pause at the peak.
            phase = (math.sin(time.monotonic() * 2 * math.pi / 60) + 1) / 2
            if index >= clients * (0.35 + 0.65 * phase):
                time.sleep(0.01)
        connection.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(f"sent {sum(sent)} requests", flush=True)
    print("done", flush=True)
    return 0


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "sample":
        return asyncio.run(sample(sys.argv[2], int(sys.argv[3]), float(sys.argv[4])))
    if len(sys.argv) == 5 and sys.argv[1] == "screenshot":
        return asyncio.run(screenshot(sys.argv[2], sys.argv[3], float(sys.argv[4])))
    if len(sys.argv) == 5 and sys.argv[1] == "load":
        return load(sys.argv[2], float(sys.argv[3]), int(sys.argv[4]))
    print(__doc__, file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main())
