"""The built-in console, Chromium's EventSource and the JavaScript client in a real headless
Chromium (Selenium) against real switchboard processes (with Redis and nginx where a restart
must lose nothing). Screenshots of the console go to docs/screenshots/ for the README."""
import re
import json
import os
import tempfile
import shutil
import threading
import time

import pytest
from selenium.webdriver.common.by import By

from test_sse import StreamReader
from conftest import Hub, request, wait_until as wait
from nginx_server import Nginx
from redis_server import RedisServer

TS = "2026-11-24T12:00:00Z"
KEY = "console-key-0123456789"
# Suite runs write the screenshots to a scratch directory (a test run leaves the checkout as it
# was); SCREENSHOT_DIR=docs/screenshots refreshes the ones the README shows.
SHOTS = os.environ.get("SCREENSHOT_DIR") or os.path.join(tempfile.gettempdir(), "switchboard-screenshots")


@pytest.fixture(autouse=True)
def needs_chromium():
    if not shutil.which("chromedriver") and not os.path.exists("/usr/bin/chromedriver"):
        pytest.fail("chromium-driver is not installed (Scripts/test.sh installs it)")


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1440,900"):
        options.add_argument(arg)
    for candidate in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if shutil.which(candidate):
            options.binary_location = candidate
            break
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)
    driver.set_script_timeout(30)
    return driver


def post(base_url_port, session, n, headers=None, retry_until=0.0):
    """POST one event through `port`; with retry_until, retry (a restart in progress) until acknowledged."""
    import http.client
    body = json.dumps({"sessionId": session, "type": "step", "timestamp": TS, "n": n}).encode()
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", base_url_port, timeout=5)
            conn.request("POST", "/api/events", body=body, headers={"Content-Type": "application/json", **(headers or {})})
            resp = conn.getresponse()
            data = resp.read()
            conn.close()
            if resp.status == 201:
                return json.loads(data)["seq"]
        except OSError:
            pass
        if time.time() > retry_until:
            raise AssertionError(f"event {n} for {session} not acknowledged")
        time.sleep(0.05)  # a publisher's pause before it retries


def shown_seqs(driver):
    return driver.execute_script("return [...document.querySelectorAll('#events li[data-seq]')].map(li => +li.dataset.seq)")


def screenshot(driver, name):
    os.makedirs(SHOTS, exist_ok=True)
    driver.execute_script("window.scrollTo(0, 0)")
    path = os.path.join(SHOTS, name)
    driver.save_screenshot(path)
    assert os.path.getsize(path) > 10_000, f"screenshot {name} is (nearly) empty"


def narrow(driver, on=True):
    if on:
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": 360, "height": 780, "deviceScaleFactor": 2, "mobile": True})
    else:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_console_sessions_live_events_commands_and_screenshots():
    hub = Hub({"API_KEY": KEY})
    auth = {"Authorization": f"Bearer {KEY}"}
    driver = browser()
    try:
        driver.get(hub.url + "/")
        # Asked once for the key (auth is on), kept in sessionStorage.
        wait(lambda: driver.execute_script("return document.getElementById('login').open"), what="the sign-in dialog")
        driver.find_element(By.ID, "credential").send_keys(KEY)
        driver.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()
        assert driver.execute_script("return sessionStorage.getItem('switchboard.credential')") == KEY

        ids = []
        for name, cwd in (("agent-build", "/srv/build"), ("agent-docs", "/home/dev/docs"), ("agent-tests", "/srv/ci")):
            status, session = request(hub, "POST", "/api/sessions", {"cwd": cwd, "hostname": "dev-1", "id": name}, headers=auth)
            assert status == 201
            ids.append(session["id"])
        request(hub, "PUT", "/api/sessions/agent-build", {"status": "running"}, headers=auth)
        request(hub, "POST", "/api/sessions/agent-build/chains", {"name": "compile", "status": "running"}, headers=auth)
        for n in range(1, 13):
            post(hub.port, ids[n % 3], n, auth)

        # Overview: live charts fill from /api/stats samples (every 2 s) while events flow.
        stop = threading.Event()

        def trickle():
            n = 100
            while not stop.is_set():
                n += 1
                post(hub.port, "agent-docs", n, auth)
                time.sleep(0.05 + (n % 7) * 0.02)  # pacing: an irregular trickle for the charts

        feeder = threading.Thread(target=trickle)
        feeder.start()
        try:
            wait(lambda: driver.execute_script("return document.querySelectorAll('.chart polyline').length") == 4, timeout=15,
                 what="four charts with samples")
            time.sleep(4)  # a few more samples for the picture
            screenshot(driver, "console-overview-desktop.png")
        finally:
            stop.set()
            feeder.join()

        # Sessions: the ones created over REST, filter and sort.
        driver.get(hub.url + "/#/sessions")
        wait(lambda: driver.execute_script("return [...document.querySelectorAll('#sessions tbody tr')].map(r => r.dataset.session)")
             and set(ids) <= set(driver.execute_script("return [...document.querySelectorAll('#sessions tbody tr')].map(r => r.dataset.session)")),
             what="the sessions created over REST")
        driver.find_element(By.ID, "filter").send_keys("srv")
        rows = driver.execute_script("return [...document.querySelectorAll('#sessions tbody tr')].map(r => r.dataset.session)")
        assert sorted(rows) == ["agent-build", "agent-tests"], "filter matches cwd"
        screenshot(driver, "console-sessions-desktop.png")

        # A session: history, then an event POSTed over REST appears within a second.
        driver.get(hub.url + "/#/session/agent-build")
        wait(lambda: len(shown_seqs(driver)) == 4, what="the stored events")
        started = time.time()
        post(hub.port, "agent-build", 99, auth)
        wait(lambda: len(shown_seqs(driver)) == 5, timeout=5, step=0.01, what="the live event")
        assert time.time() - started < 1.0, "an event appears within one second"
        assert shown_seqs(driver) == [1, 2, 3, 4, 5]
        assert "compile" in driver.find_element(By.ID, "chains").text

        # Who is watching: the console itself, then a Server-Sent Events reader joins and leaves.
        watching = lambda: driver.find_element(By.ID, "presence").text
        wait(lambda: "this console" in watching(), what="the console in the session's presence")
        reader = StreamReader(hub.port, f"/api/events/agent-build/stream?apiKey={KEY}")
        try:
            reader.read_head()
            wait(lambda: "API key" in watching() and "Watching (2)" in driver.page_source, what="a second watcher")
        finally:
            reader.close()
        wait(lambda: "API key" not in watching(), what="the reader to leave")

        # A command from the form is drained by GET …/commands.
        driver.find_element(By.CSS_SELECTOR, "#command-type option[value=pause]").click()
        driver.find_element(By.ID, "command-payload").send_keys('{"reason": "console test"}')
        driver.find_element(By.CSS_SELECTOR, "#command-form button[type=submit]").click()
        wait(lambda: "queued" in driver.find_element(By.ID, "sent").text, what="the command to be queued")
        status, drained = request(hub, "GET", "/api/sessions/agent-build/commands", headers=auth)
        assert status == 200 and [c["type"] for c in drained["commands"]] == ["pause"]
        assert drained["commands"][0]["payload"] == {"reason": "console test"}
        screenshot(driver, "console-session-desktop.png")

        narrow(driver)
        driver.get(hub.url + "/#/session/agent-build")
        wait(lambda: len(shown_seqs(driver)) == 5, what="the session at 360 px")
        width = driver.execute_script("return document.documentElement.scrollWidth")
        assert width <= 362, f"no horizontal scrolling at 360 px (page is {width} px wide)"
        screenshot(driver, "console-session-narrow.png")
        driver.get(hub.url + "/#/")
        wait(lambda: driver.execute_script("return document.querySelectorAll('.chart polyline').length") == 4, what="charts at 360 px")
        # The session page's live event (and the command push) were delivered: the overview
        # shows their lag, p50 / p99 over the stats window.
        wait(lambda: re.search(r"Delivery lag\s*p50 [0-9.]+ ms · p99 [0-9.]+ m?s \(\d+ in ", driver.find_element(By.TAG_NAME, "main").text),
             timeout=8, what="the delivery lag on the overview")
        screenshot(driver, "console-overview-narrow.png")
        narrow(driver, False)

        # Keyboard: the skip link and every control can take focus.
        focusable = driver.execute_script(
            "return [...document.querySelectorAll('a[href], button, input, select, textarea')].filter(e => !e.hidden).every(e => e.tabIndex >= 0)")
        assert focusable

        # No console errors, and every request stayed on this origin.
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == [], errors
        urls = set()
        for entry in driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] in ("Network.requestWillBeSent", "Network.webSocketCreated"):
                urls.add(message["params"].get("request", {}).get("url") or message["params"].get("url"))
        outside = [u for u in urls if u and not (u.startswith(hub.url) or u.startswith(f"ws://127.0.0.1:{hub.port}") or u.startswith("data:"))]
        assert outside == [], outside
        assert any(u.startswith(f"ws://127.0.0.1:{hub.port}/ws") for u in urls)
    finally:
        driver.quit()
        assert hub.stop() == 0


def test_console_resumes_without_gap_or_duplicate_after_restart_behind_nginx():
    redis = RedisServer()
    env = {"REDIS_URL": redis.url, "SHUTDOWN_TIMEOUT": "5"}
    one = Hub({**env, "INSTANCE_ID": "one"})
    two = Hub({**env, "INSTANCE_ID": "two"})
    nginx = Nginx([one.port, two.port])
    driver = browser()
    try:
        # Each instance knows the other from its heartbeat in Redis (the console's overview).
        wait(lambda: {i["instanceId"] for i in request(one, "GET", "/api/stats")[1]["instances"]} == {"one", "two"},
             timeout=8, what="both instances in /api/stats")
        driver.get(nginx.url + "/#/session/nx-1")
        holder = wait(lambda: (driver.find_element(By.ID, "status").text.split("· ") + [""])[1], what="a live connection")
        for n in range(1, 41):
            post(nginx.port, "nx-1", n)
        wait(lambda: len(shown_seqs(driver)) == 40, what="the first 40 events")
        # Restart the instance holding the console's WebSocket while events keep coming.
        victim = one if holder == "one" else two
        assert victim.stop() == 0
        restarted = Hub({**env, "INSTANCE_ID": holder}, port=victim.port)
        if victim is one:
            one = restarted
        else:
            two = restarted
        for n in range(41, 121):
            post(nginx.port, "nx-1", n, retry_until=time.time() + 20)
        wait(lambda: len(shown_seqs(driver)) >= 120, timeout=30, what="every event after the restart")
        time.sleep(0.5)  # a window for a duplicate that must not come
        assert shown_seqs(driver) == list(range(1, 121)), "no gap, no duplicate"
    finally:
        driver.quit()
        nginx.stop()
        assert one.stop() == 0
        assert two.stop() == 0
        redis.stop()


EVENTSOURCE = """
const done = arguments[arguments.length - 1];
window.__es = [];
const es = new EventSource('/api/events/es-1/stream?lastEventId=0');
es.addEventListener('event', (e) => window.__es.push({id: e.lastEventId, seq: JSON.parse(e.data).seq}));
es.addEventListener('subscription_confirmed', () => done('open'));
es.onerror = () => window.__es.push({error: es.readyState});
"""


def test_chromium_eventsource_live_and_resume_by_last_event_id():
    redis = RedisServer()
    env = {"REDIS_URL": redis.url, "SHUTDOWN_TIMEOUT": "5"}
    hub = Hub(env)
    driver = browser()
    try:
        driver.get(hub.url + "/console")
        assert driver.execute_async_script(EVENTSOURCE) == "open"
        for n in range(1, 6):
            post(hub.port, "es-1", n)
        wait(lambda: len(driver.execute_script("return window.__es.filter(m => m.seq)")) == 5, what="live events")
        # The instance restarts: the stream ends; EventSource reconnects by itself (retry: 2000)
        # with Last-Event-ID 5, and gets what was posted while it was away, once.
        assert hub.stop() == 0
        hub = Hub(env, port=hub.port)
        for n in range(6, 9):
            post(hub.port, "es-1", n, retry_until=time.time() + 20)  # Redis reconnecting: 503 until it is up
        wait(lambda: len(driver.execute_script("return window.__es.filter(m => m.seq)")) >= 8, timeout=15, what="the resumed stream")
        for n in range(9, 11):
            post(hub.port, "es-1", n)
        wait(lambda: len(driver.execute_script("return window.__es.filter(m => m.seq)")) >= 10, what="live after resume")
        got = driver.execute_script("return window.__es.filter(m => m.seq)")
        assert [m["seq"] for m in got] == list(range(1, 11))
        assert [m["id"] for m in got] == [str(n) for n in range(1, 11)], "id: is the seq"
    finally:
        driver.quit()
        assert hub.stop() == 0
        redis.stop()


JS_CLIENT = """
const [sessions, done] = [arguments[0], arguments[arguments.length - 1]];
import('/switchboard.js').then(({ Switchboard }) => {
  window.__got = Object.fromEntries(sessions.map((s) => [s, []]));
  window.__statuses = [];
  const hub = new Switchboard({ minDelay: 100, maxDelay: 1000, onStatus: (s) => window.__statuses.push(s) });
  window.__client = hub;
  let confirmed = 0;
  for (const s of sessions) {
    hub.subscribe(s, { lastEventId: 0, onEvent: (m) => window.__got[s].push(m.seq),
                       onConfirmed: () => { if (++confirmed === sessions.length) done('subscribed'); } });
  }
}, (e) => done('import failed: ' + e));
"""


def test_js_client_exactly_once_in_order_across_two_forced_disconnects():
    redis = RedisServer()
    env = {"REDIS_URL": redis.url, "SHUTDOWN_TIMEOUT": "5"}
    hub = Hub(env)
    driver = browser()
    sessions = ["js-a", "js-b", "js-c"]
    total = 1000
    try:
        driver.get(hub.url + "/console")
        assert driver.execute_async_script(JS_CLIENT, sessions) == "subscribed"
        for n in range(total):
            if n in (total // 3, 2 * total // 3):
                # A forced disconnect: the instance goes away mid-stream and comes back.
                assert hub.stop() == 0
                hub = Hub(env, port=hub.port)
            post(hub.port, sessions[n % 3], n, retry_until=time.time() + 20)
        expected = {s: list(range(1, len([n for n in range(total) if n % 3 == i]) + 1)) for i, s in enumerate(sessions)}
        wait(lambda: driver.execute_script("return Object.values(window.__got).reduce((a, l) => a + l.length, 0)") >= total,
             timeout=30, what="all 1000 events")
        time.sleep(0.5)  # a window for a duplicate that must not come
        got = driver.execute_script("return window.__got")
        assert got == expected, "each session's events exactly once, in seq order"
        statuses = driver.execute_script("return window.__statuses")
        assert statuses.count("open") >= 3, f"connected, then reconnected twice: {statuses}"
        assert "reconnecting" in statuses
    finally:
        driver.quit()
        assert hub.stop() == 0
        redis.stop()
