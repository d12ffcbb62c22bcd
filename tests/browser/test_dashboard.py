"""The dashboard of nomnom-host in a real browser: headless Chromium driven by Selenium
(Debian's chromium, chromium-driver and python3-selenium), against a real nats-server and a
nomnom-host running the test_kv plugin on SQLite.

NOMNOM_BUILD_DIR names the build; with NOMNOM_SCREENSHOTS set to a folder, the overview and the
dead-letter view are saved there (how README's screenshots are made).
"""

import http.server
import json
import os
import pathlib
import re
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

BUILD = pathlib.Path(os.environ.get("NOMNOM_BUILD_DIR", "build")).resolve()
TOKEN = "browser-test-admin-token-42"
WAIT_S = 30


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, check, timeout=WAIT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Servers:
    """nats-server and nomnom-host in a temporary folder, stopped by their pids."""

    def __init__(self, root, broken_plugins=0):
        self.root = root
        self.nats_port = free_port()
        self.database = root / "dashboard.db"
        self.config = root / "worker.toml"
        self.host_log = root / "host.log"
        (root / "plugins").mkdir()
        shutil.copy(BUILD / "tests/plugins/test_kv.so", root / "plugins/test_kv.so")
        # Files the host refuses (no entry symbol), each listed with its reason.
        for i in range(broken_plugins):
            shutil.copy(BUILD / "tests/plugins/test_no_symbol.so",
                        root / f"plugins/broken_{i:03d}.so")
        self.nats = subprocess.Popen(
            ["nats-server", "-js", "-a", "127.0.0.1", "-p", str(self.nats_port),
             "-sd", str(root / "jetstream")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.write_config()
        self.host = subprocess.Popen(
            [str(BUILD / "host/nomnom-host"), "--config", str(self.config)],
            stdout=self.host_log.open("w"), stderr=subprocess.STDOUT)
        self.port = int(wait_for("the host's HTTP port", lambda: self.log_match(
            r"listening on port (\d+)")))
        wait_for("test_kv to run", lambda: "startup summary: 1 plugin(s) running" in self.log(),
                 120)
        self.url = f"http://127.0.0.1:{self.port}"

    def write_config(self, plugin_config=""):
        self.config.write_text(f"""
[nats]
url = "nats://127.0.0.1:{self.nats_port}"
[stream]
name = "TEST"
subjects = ["test.>"]
[database]
url = "sqlite:{self.database}"
[consumer]
max_wait_ms = 200
backoff_ms = [200]
[plugins]
dir = "{self.root / 'plugins'}"
[http]
listen = "127.0.0.1:0"
admin_token = "{TOKEN}"
{plugin_config}
""")

    def log(self):
        return self.host_log.read_text(errors="replace")

    def log_match(self, pattern):
        found = re.search(pattern, self.log())
        return found.group(1) if found else None

    def publish(self, subject, lines):
        subprocess.run(
            [str(BUILD / "host/nomnom-publish"), "--subject", subject,
             "--url", f"nats://127.0.0.1:{self.nats_port}"],
            input="\n".join(lines) + "\n", text=True, check=True, capture_output=True,
            timeout=WAIT_S)

    def rows(self, where="1=1"):
        try:
            with sqlite3.connect(self.database) as db:
                return db.execute(f"SELECT count(*) FROM kv WHERE {where}").fetchone()[0]
        except sqlite3.OperationalError:
            return 0

    def api(self, path):
        with urllib.request.urlopen(self.url + path, timeout=10) as reply:
            return json.load(reply)

    def stop(self):
        for process in (self.host, self.nats):
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture()
def servers(request):
    root = pathlib.Path(tempfile.mkdtemp(prefix="nomnom-browser-"))
    running = Servers(root, **getattr(request, "param", {}))
    try:
        yield running
    finally:
        running.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture()
def browser():
    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1280,800"):
        options.add_argument(argument)
    profile = tempfile.mkdtemp(prefix="nomnom-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def text_of(driver, css):
    elements = driver.find_elements(By.CSS_SELECTOR, css)
    return elements[0].text if elements else None


def screenshot(driver, name):
    folder = os.environ.get("NOMNOM_SCREENSHOTS")
    if folder:
        driver.save_screenshot(str(pathlib.Path(folder) / name))


def test_the_overview_moves_without_a_reload(servers, browser):
    browser.get(servers.url + "/")
    row = 'tr[data-plugin="test_kv"]'
    wait_for("the plugin's row", lambda: text_of(browser, row + " .state") == "running")
    assert text_of(browser, "#nats-state") == "connected"
    assert text_of(browser, "#database-state") == "reachable"
    # Set on this very page: still there afterwards only if the page was never reloaded.
    browser.execute_script("window.notReloaded = true;")

    servers.publish("test.kv.a", [json.dumps({"k": f"a{i}", "v": i}) for i in range(40)])
    wait_for("40 persisted", lambda: text_of(browser, row + " .persisted") == "40")
    wait_for("the rows per table", lambda: "kv: 40" in (text_of(browser, row + " .rows") or ""))
    wait_for("a rate above zero", lambda: float(
        (text_of(browser, row + " .rate") or "0").replace(",", "") or 0) > 0)
    wait_for("the chart to rise", lambda: browser.execute_script(
        "const line = document.querySelector(arguments[0] + ' .spark polyline');"
        "return line && line.getAttribute('points').split(' ').some("
        "  p => Number(p.split(',')[1]) < 20);", row))
    # More messages: the counts move again, and the page is the same page.
    servers.publish("test.kv.a", [json.dumps({"k": f"b{i}", "v": i}) for i in range(25)])
    wait_for("65 persisted", lambda: text_of(browser, row + " .persisted") == "65")
    assert browser.execute_script("return window.notReloaded === true;")
    screenshot(browser, "dashboard-overview.png")


def test_a_poison_message_is_found_fixed_and_replayed(servers, browser):
    hostile = {"k": "<script>window.pwned = true</script><img src=x onerror=pwned=1>",
               "v": 7, "action": "invalid"}
    servers.publish("test.kv.poison", [json.dumps({"k": "good", "v": 1}), json.dumps(hostile)])
    wait_for("the good row", lambda: servers.rows() == 1)

    browser.get(servers.url + "/#dead-letters")
    letter = wait_for("the dead letter in the list", lambda: [
        r for r in browser.find_elements(By.CSS_SELECTOR, "#dlq-rows tr[data-seq]")
        if "action=invalid requested" in r.text])[0]
    seq = letter.get_attribute("data-seq")
    assert "invalid" in letter.find_element(By.CSS_SELECTOR, ".class").text
    assert "test.kv.poison" in letter.find_element(By.CSS_SELECTOR, ".subject").text

    # Not signed in: no payload, actions disabled, and an action sent anyway is refused.
    letter.find_element(By.CSS_SELECTOR, ".reason").click()
    wait_for("the hidden-payload notice",
             lambda: browser.find_element(By.ID, "dlq-payload-hidden").is_displayed())
    assert "pwned" not in browser.find_element(By.ID, "dlq-detail").text
    assert not browser.find_element(By.ID, "dlq-replay-selected").is_enabled()
    status = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch('/api/dead-letters/replay', {method: 'POST', headers: {'Content-Type':"
        " 'application/json', 'X-Nomnom-Csrf': '1'}, body: JSON.stringify({seqs: [Number("
        + seq + ")]})}).then(r => done(r.status));")
    assert status == 401
    assert servers.api(f"/api/dead-letters?limit=500")["total"] == 1

    # Signed in: the payload is shown as text, never run.
    browser.find_element(By.ID, "admin-token").send_keys(TOKEN)
    browser.find_element(By.ID, "login-button").click()
    wait_for("sign-in", lambda: browser.find_element(By.ID, "logout-button").is_displayed())
    assert browser.get_cookie("nomnom_session")["httpOnly"]
    assert browser.execute_script("return document.cookie;") == ""
    letter = browser.find_element(By.CSS_SELECTOR, f'#dlq-rows tr[data-seq="{seq}"]')
    letter.find_element(By.CSS_SELECTOR, ".reason").click()
    payload = wait_for("the payload", lambda: browser.find_element(By.ID, "dlq-payload").text)
    assert hostile["k"] in payload
    assert browser.execute_script(
        "return window.pwned === undefined &&"
        " document.querySelectorAll('#dlq-detail script, #dlq-detail img').length === 0;")
    screenshot(browser, "dashboard-dead-letters.png")

    # The fix: the plugin accepts these messages; reloaded from the page, then replayed.
    servers.write_config("[plugins.test_kv.config]\naccept_invalid = true\n")
    browser.find_element(By.ID, "reload-button").click()
    wait_for("the reload", lambda: "reload 1 succeeded" in servers.log())
    box = browser.find_element(By.CSS_SELECTOR, f'#dlq-rows tr[data-seq="{seq}"] input.select')
    box.click()
    browser.find_element(By.ID, "dlq-replay-selected").click()
    wait_for("the outcome", lambda: "replayed 1" in browser.find_element(By.ID, "dlq-result").text)
    wait_for("the replayed row", lambda: servers.rows("v = 7") == 1)
    wait_for("the letter to leave the list", lambda: not browser.find_elements(
        By.CSS_SELECTOR, f'#dlq-rows tr[data-seq="{seq}"]'))
    assert servers.api("/api/dead-letters")["total"] == 0


class EvilPage(http.server.BaseHTTPRequestHandler):
    """Another origin's page that posts a purge of everything to the dashboard on load, as a
    cross-site form post (text/plain, so the body parses as JSON) would."""

    target = ""

    def do_GET(self):
        page = f"""<!doctype html><html><body>
<form id="f" method="post" enctype="text/plain" action="{self.target}/api/dead-letters/purge">
<input type="hidden" name='{{"filter":{{}},"confirm":true,"x":"' value='"}}'>
</form><script>document.getElementById("f").submit();</script></body></html>"""
        body = page.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_cross_site_form_post_is_refused(servers, browser):
    servers.publish("test.kv.poison", [json.dumps({"k": "bad", "v": 1, "action": "invalid"})])
    wait_for("the dead letter", lambda: servers.api("/api/dead-letters")["total"] == 1)
    # Signed in, so that the browser holds a valid session cookie for the dashboard's host.
    browser.get(servers.url + "/")
    wait_for("the login form", lambda: browser.find_element(By.ID, "admin-token").is_displayed())
    browser.find_element(By.ID, "admin-token").send_keys(TOKEN)
    browser.find_element(By.ID, "login-button").click()
    wait_for("sign-in", lambda: browser.find_element(By.ID, "logout-button").is_displayed())

    EvilPage.target = servers.url
    evil = http.server.ThreadingHTTPServer(("127.0.0.1", 0), EvilPage)
    thread = threading.Thread(target=evil.serve_forever, daemon=True)
    thread.start()
    try:
        browser.get(f"http://127.0.0.1:{evil.server_address[1]}/")
        wait_for("the dashboard's answer to the forged post",
                 lambda: "cross-site request refused" in browser.page_source)
    finally:
        evil.shutdown()
        thread.join()
    assert servers.api("/api/dead-letters")["total"] == 1


def test_purge_asks_with_the_count_before_deleting(servers, browser):
    servers.publish("test.kv.poison", [json.dumps({"k": f"bad{i}", "v": i, "action": "invalid"})
                                       for i in range(3)])
    wait_for("the dead letters", lambda: servers.api("/api/dead-letters")["total"] == 3)
    browser.get(servers.url + "/#dead-letters")
    browser.find_element(By.ID, "admin-token").send_keys(TOKEN)
    browser.find_element(By.ID, "login-button").click()
    wait_for("sign-in", lambda: browser.find_element(By.ID, "dlq-purge-filter").is_enabled())

    # One, from its own panel.
    newest = wait_for("the list", lambda: browser.find_elements(By.CSS_SELECTOR,
                                                              '#dlq-rows tr[data-seq="3"]'))
    newest[0].find_element(By.CSS_SELECTOR, ".reason").click()
    wait_for("its panel", lambda: browser.find_element(By.ID, "dlq-detail-purge").is_displayed())
    browser.find_element(By.ID, "dlq-detail-purge").click()
    alert = wait_for("the confirmation", lambda: expected_alert(browser))
    assert "Permanently delete 1 of the selected dead letters" in alert.text
    alert.accept()
    wait_for("the outcome", lambda: "deleted 1" in browser.find_element(By.ID, "dlq-result").text)
    assert servers.api("/api/dead-letters")["total"] == 2

    # The rest, by the (empty) filter.
    browser.find_element(By.ID, "dlq-purge-filter").click()
    alert = wait_for("the confirmation", lambda: expected_alert(browser))
    assert "Permanently delete 2 dead letters" in alert.text
    alert.dismiss()
    # The page sends the purge only after an accepted confirmation.
    assert servers.api("/api/dead-letters")["total"] == 2

    browser.find_element(By.ID, "dlq-purge-filter").click()
    wait_for("the confirmation", lambda: expected_alert(browser)).accept()
    wait_for("the outcome", lambda: "deleted 2" in browser.find_element(By.ID, "dlq-result").text)
    assert servers.api("/api/dead-letters")["total"] == 0


def expected_alert(browser):
    try:
        return browser.switch_to.alert
    except NoAlertPresentException:
        return None


@pytest.mark.parametrize("servers", [{"broken_plugins": 300}], indirect=True)
def test_hundreds_of_plugins_are_paged_and_filtered(servers, browser):
    browser.get(servers.url + "/")
    rows = "#plugins tr[data-plugin]"
    wait_for("the first page", lambda: len(browser.find_elements(By.CSS_SELECTOR, rows)) == 50)
    assert "301 plugins, 1 running" in browser.find_element(By.ID, "plugin-summary").text
    assert browser.find_element(By.ID, "plugins-page").text == "1–50 of 301"
    browser.find_element(By.ID, "plugins-next").click()
    wait_for("the second page",
             lambda: browser.find_element(By.ID, "plugins-page").text == "51–100 of 301")
    browser.find_element(By.ID, "plugin-filter").send_keys("broken_29")
    wait_for("the filtered rows", lambda: len(browser.find_elements(By.CSS_SELECTOR, rows)) == 10)
    state = browser.find_element(By.CSS_SELECTOR, rows + " .state").text
    assert state.startswith("refused")
    assert "missing entry symbol" in browser.find_element(
        By.CSS_SELECTOR, rows + " .state").get_attribute("title")


def test_tens_of_thousands_of_dead_letters_are_paged(servers, browser):
    count = 20000
    servers.publish("test.kv.bad", [json.dumps({"k": f"b{i}", "v": i, "action": "invalid"})
                                    for i in range(count - 1)]
                    + [json.dumps({"k": "odd", "v": "one"})])
    wait_for("every dead letter",
             lambda: servers.api("/api/dead-letters")["total"] == count, 300)
    browser.get(servers.url + "/#dead-letters")
    rows = "#dlq-rows tr[data-seq]"
    wait_for("the newest page", lambda: browser.find_elements(
        By.CSS_SELECTOR, f'{rows}[data-seq="{count}"]'))
    assert len(browser.find_elements(By.CSS_SELECTOR, rows)) == 50
    browser.find_element(By.ID, "dlq-older").click()
    wait_for("the next page", lambda: browser.find_elements(
        By.CSS_SELECTOR, f'{rows}[data-seq="{count - 50}"]'))
    # A filter that matches none: a page reads 5,000 letters at most, and says so.
    browser.find_element(By.ID, "dlq-plugin").send_keys("other_plugin")
    browser.find_element(By.ID, "dlq-apply").click()
    wait_for("the partial-scan notice", lambda: "None of the letters read so far match"
             in browser.find_element(By.ID, "dlq-status").text)
    assert not browser.find_elements(By.CSS_SELECTOR, rows)
    assert browser.find_element(By.ID, "dlq-older").is_enabled()
