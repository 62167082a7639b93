"""A real browser (headless Chromium via Selenium) as a dashboard: connects to /ws, subscribes,
and receives events POSTed over REST."""
import shutil
import time

import pytest

TS = "2026-11-24T12:00:00Z"

PAGE_SCRIPT = """
const [url, done] = [arguments[0], arguments[arguments.length - 1]];
window.__msgs = [];
const ws = new WebSocket(url);
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


def test_browser_dashboard_receives_events(hub):
    if not shutil.which("chromedriver") and not shutil.which("/usr/bin/chromedriver"):
        pytest.skip("chromium-driver not installed")
    driver = chromium_driver()
    try:
        driver.set_script_timeout(15)
        driver.get("about:blank")
        assert driver.execute_async_script(PAGE_SCRIPT, f"ws://127.0.0.1:{hub.port}/ws") == "subscribed"
        for n in range(1, 6):
            hub.post("/api/events", {"sessionId": "browser-1", "type": "t", "timestamp": TS, "n": n})
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
    finally:
        driver.quit()
