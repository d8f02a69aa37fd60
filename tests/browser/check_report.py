#!/usr/bin/env python3
"""Opens an mtlscan HTML report in headless Chromium and checks it against the JSON report of
the same run.

    check_report.py REPORT.html REPORT.json SCREENSHOT.png

Checks: the page becomes ready; it makes no network request (only the file itself is loaded) and
logs no console error; the graph's edges (network leg) and their worst verdicts are those the
JSON report's flows give; every flow that violates the policy is marked in the table and on its
edge; filtering by verdict shows exactly the flows of that verdict; a click opens a flow's
evidence. Keeps a screenshot. Prints what it checked; exits 0 when all holds, 1 otherwise, and
77 when no browser, driver or selenium is present (the test then reports itself skipped)."""
import ipaddress
import json
import os
import shutil
import sys
import time

SKIP = 77
WORST = ["plaintext", "opaque", "tls", "mtls", "empty"]


def find_browser():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def driver_for():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        print("SKIP: python3 has no selenium (pip install selenium)")
        sys.exit(SKIP)
    browser, chromedriver = find_browser(), shutil.which("chromedriver")
    if not browser or not chromedriver:
        print("SKIP: no Chromium or ChromeDriver (apt-get install chromium chromium-driver)")
        sys.exit(SKIP)
    opts = webdriver.ChromeOptions()
    opts.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1400,1000",
                "--user-data-dir=" + os.path.join(os.environ.get("TMPDIR", "/tmp"),
                                                  "mtlscan-chromium-%d" % os.getpid())):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service(chromedriver), options=opts)


def label(end, grouped_by):
    if end.get("name"):
        return end["name"]
    ip = ipaddress.ip_address(end["ip"])
    if grouped_by is None:
        return str(ip)
    bits = grouped_by if ip.version == 4 else min(grouped_by * 4, 128)
    return str(ipaddress.ip_network("%s/%d" % (ip, bits), strict=False))


def main():
    html, report, shot = sys.argv[1:4]
    with open(report) as f:
        doc = json.load(f)
    d = driver_for()
    failures = []

    def check(ok, what):
        print(("ok   " if ok else "FAIL ") + what)
        if not ok:
            failures.append(what)

    try:
        started = time.time()
        d.get("file://" + os.path.abspath(html))
        ready = False
        while time.time() - started < 120:
            if d.execute_script("return window.mtlscanReady === true"):
                ready = True
                break
            time.sleep(0.05)
        check(ready, "the page is ready after %.2f s" % (time.time() - started))
        grouped_by = d.execute_script(
            "return JSON.parse(document.getElementById('mtlscan-data').textContent).grouped_by")

        # the graph: the network edges and their worst verdicts, as the JSON flows give them
        want = {}
        for f in doc["flows"]:
            if f["leg"] != "network":
                continue
            a, b = label(f["client"], grouped_by), label(f["server"], grouped_by)
            if a == b:
                continue
            key = a + " -> " + b
            want.setdefault(key, set()).add(f["verdict"])
        want = {k: next(v for v in WORST if v in vs) for k, vs in want.items()}
        got = d.execute_script(
            "return [...document.querySelectorAll('[data-edge]')]"
            ".filter(e => e.dataset.leg === 'network')"
            ".map(e => [e.dataset.edge, e.dataset.verdict])")
        got = dict(got)
        check(got == want, "graph edges and their worst verdicts match the JSON report (%d edges)"
              % len(want))
        nodes = set(d.execute_script(
            "return [...document.querySelectorAll('[data-node]')].map(e => e.dataset.node)"))
        ends = {e for k in want for e in k.split(" -> ")}
        check(ends <= nodes, "every edge's ends are nodes (%d nodes)" % len(nodes))

        # violations: marked in the table (they come first) and on their edge
        policy = doc["summary"].get("policy") or {}
        violations = policy.get("violations", [])
        if violations:
            marked = d.execute_script(
                "return [...document.querySelectorAll('.row.violation')].map(r => +r.dataset.flowId)")
            first = violations[: len(marked)]
            check(bool(marked) and sorted(marked) == sorted(first),
                  "the first rows are the violating flows, marked (%s)" % first[:5])
            bad = d.execute_script("return document.querySelectorAll('.edge.violation').length")
            check(bad > 0, "an edge is marked as violating")
            banner = d.execute_script("return document.getElementById('policy').dataset.policy")
            check(banner == "fail", "the policy banner says fail")

        # filtering by verdict
        from selenium.webdriver.support.ui import Select
        for verdict in ("plaintext", "mtls"):
            Select(d.find_element("id", "filter-verdict")).select_by_value(verdict)
            time.sleep(0.2)
            shown = d.execute_script("return document.getElementById('count').textContent")
            n = sum(1 for f in doc["flows"] if f["verdict"] == verdict)
            check(shown.startswith("%d of %d" % (n, len(doc["flows"]))),
                  "filtering by %s shows %d flows (%s)" % (verdict, n, shown))
            rows = d.execute_script(
                "return [...document.querySelectorAll('[data-flow-id]')].map(r => r.dataset.verdict)")
            check(all(v == verdict for v in rows), "every visible row is %s" % verdict)
        Select(d.find_element("id", "filter-verdict")).select_by_value("")
        time.sleep(0.2)

        # a flow's evidence (or, without flows, the table says so)
        if doc["flows"]:
            first = d.find_element("css selector", "[data-flow-id]")
            fid = first.get_attribute("data-flow-id")
            first.click()
            time.sleep(0.3)
            text = d.execute_script("return document.getElementById('evidence').innerText")
            flow = next(f for f in doc["flows"] if str(f["id"]) == fid)
            check(("Flow #" + fid) in text and flow["reasons"][0] in text,
                  "clicking flow %s opens its evidence, with its reasons" % fid)
            d.save_screenshot(shot.replace(".png", "-evidence.png"))
            d.execute_script("document.getElementById('evidence').classList.remove('open')")
        else:
            text = d.execute_script("return document.getElementById('rows').innerText")
            check("no flows in the capture" in text, "a report without flows says so")
        d.save_screenshot(shot)
        loaded_and_logged(d, check)
    finally:
        d.quit()
    sys.exit(1 if failures else 0)


def loaded_and_logged(d, check):
    """Nothing but the file itself was loaded, and the console is clean."""
    requests = []
    for entry in d.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        # what the report's page asked for (the browser's own new-tab page is not it)
        if (msg.get("method") == "Network.requestWillBeSent"
                and msg["params"].get("documentURL", "").startswith("file:")):
            requests.append(msg["params"]["request"]["url"])
    outside = [u for u in requests if not (u.startswith("file:") or u.startswith("data:"))]
    check(not outside, "no network request (%d loads, all file: or data:) %s"
          % (len(requests), outside[:3]))
    errors = [e for e in d.get_log("browser") if e.get("level") == "SEVERE"]
    check(not errors, "no console error %s" % (errors[:3] if errors else ""))


if __name__ == "__main__":
    main()
