"""A real browser (headless Chromium via Selenium) as a dashboard: connects to /ws, subscribes,
and receives events POSTed over REST — compressed, since Chromium offers permessage-deflate."""
import http.server
import shutil
import threading
import time

import pytest

TS = "2026-11-24T12:00:00Z"

PAGE_SCRIPT = """
const [url, done] = [arguments[0], arguments[arguments.length - 1]];
window.__msgs = [];
const ws = new WebSocket(url);
window.__ws = ws;
ws.onmessage = (e) => {
  const m = JSON.parse(e.data);
  window.__msgs.push(m);
  if (m.type === 'subscription_confirmed' && !m.sessionId) {
    ws.send(JSON.stringify({type: 'subscribe', sessionId: 'browser-1'}));
  }
  if (m.type === 'subscription_confirmed' && m.sessionId) done('subscribed');
};
ws.onerror = () => done('error');
"""


def chromium_driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    for candidate in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if shutil.which(candidate):
            options.binary_location = candidate
            break
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    return webdriver.Chrome(service=Service(driver_path), options=options)


class PageServer:
    """Serves a blank page on loopback, so the browser's page and the hub are both local
    (Chromium's local-network rules block about:blank from reaching 127.0.0.1)."""

    def __init__(self):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = b"<!doctype html><title>dashboard</title><body>dashboard</body>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def check_dashboard(driver, hub, ws_url):
    """The page subscribes to browser-1 over `ws_url`; of events posted to browser-1 and
    browser-2 it receives exactly browser-1's, in seq order. The connection negotiated
    permessage-deflate (the browser's own `WebSocket.extensions`), and the events, large enough
    to be sent compressed (over WS_COMPRESSION_MIN_BYTES), arrive intact."""
    detail = "".join(f"step {i}: agent finished a tool call; " for i in range(30))
    page = PageServer()
    try:
        driver.set_script_timeout(15)
        driver.get(page.url)
        assert driver.execute_async_script(PAGE_SCRIPT, ws_url) == "subscribed"
        for n in range(1, 6):
            hub.post("/api/events", {"sessionId": "browser-1", "type": "t", "timestamp": TS, "n": n, "detail": detail})
            hub.post("/api/events", {"sessionId": "browser-2", "type": "t", "timestamp": TS, "n": n})
        deadline = time.time() + 10
        events = []
        while time.time() < deadline:
            events = driver.execute_script("return window.__msgs.filter(m => m.type === 'event')")
            if len(events) >= 5:
                break
            time.sleep(0.05)
        assert [e["seq"] for e in events] == [1, 2, 3, 4, 5]
        assert all(e["sessionId"] == "browser-1" for e in events)
        assert all(e["payload"]["detail"] == detail for e in events)
        extensions = driver.execute_script("return window.__ws.extensions")
        assert extensions.startswith("permessage-deflate"), extensions
        assert "client_no_context_takeover" in extensions and "server_no_context_takeover" in extensions
    finally:
        page.close()


def test_browser_dashboard_receives_events(hub):
    if not shutil.which("chromedriver") and not shutil.which("/usr/bin/chromedriver"):
        pytest.skip("chromium-driver not installed")
    driver = chromium_driver()
    try:
        check_dashboard(driver, hub, f"ws://127.0.0.1:{hub.port}/ws")
    finally:
        driver.quit()
