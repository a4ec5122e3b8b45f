"""The HTML results page: self-contained, escaped, every number linked to its result file, and, in a real
headless Chromium driven over the DevTools protocol, loading without console errors or network requests and
sorting a leaderboard by a click on a column header. The browser test writes two screenshots (the top of the
page and the whole page; their paths are printed, ``pytest -s``) into $NERBENCH_TEST_ARTIFACTS, else the test's
tmp folder. It is skipped, saying why, where no Chromium is installed (``apt-get install chromium``, or point
NERBENCH_BROWSER at one); .ci/run installs it and sets NERBENCH_REQUIRE_BROWSER, which turns the skip into a
failure."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import unquote

import pytest

from bench import report
from bench.cli_results import REPORT_MARK
from bench.data.types import Sentence
from bench.results import write_result
from bench.scoring import score_split
from bench.spec import LocalSource, ReferenceResult, TaskSpec
from bench.versions import SCORER_VERSION, system_version

EVIL = '<img src=x onerror="alert(1)">'
EXTERNAL = "ext.sys"
"""An external system: names follow bench.spec.NAME, so markup can only come in through models and task files."""
SPEC = TaskSpec(
    name="toy", version="1", language="en", domain="tests", entity_types=("PER", "LOC", "ORG"), scheme="IOB2",
    licence="x", description=f'A toy task <script>alert("task")</script> & {EVIL}.', hub=None,
    local=LocalSource(folder="toy", format="conll", splits={"train": "a", "test": "b"}),
    reference=(ReferenceResult(system="paper", split="test", metric="conlleval_f1", value=0.9, source=EVIL),),
)
GOLD = ("B-PER", "I-PER", "O", "B-LOC", "O", "B-ORG")
MISS_LOC = ["B-PER", "I-PER", "O", "O", "O", "B-ORG"]
STRAY = ["O", "I-PER", "O", "B-LOC", "O", "B-ORG"]  # PER(1,2) "b" for PER(0,2) "a b"
SENTENCES = [Sentence(tuple("abcdef"), GOLD) for _ in range(6)]
TRAIN = [Sentence(("a", "b"), ("B-PER", "I-PER"))]  # PER "a b" is seen; LOC "d" and ORG "f" are not

# test F1 (conlleval), seen F1:
#   crf        2 x STRAY + 4 x gold: tp 16, fp 2, fn 2 -> 32/36 = 0.8889; seen tp 4, fn 2 -> 0.8
#   minilm-l6  seed 1 all gold (1.0), seed 2 one MISS_LOC (34/35): mean 0.9857; seen 1.0
#   ext.sys    6 x MISS_LOC: tp 12, fn 6 -> 0.8; scored without the train split: no seen F1
PREDS = {
    ("crf", 13): [list(STRAY)] * 2 + [list(GOLD)] * 4,
    ("minilm-l6", 1): [list(GOLD)] * 6,
    ("minilm-l6", 2): [list(MISS_LOC)] + [list(GOLD)] * 5,
    (EXTERNAL, 0): [list(MISS_LOC)] * 6,
}
KINDS = {"crf": "crf", "minilm-l6": "transformer", EXTERNAL: "external"}


def make_result(system: str, seed: int) -> dict[str, Any]:
    kind = KINDS[system]
    metrics, unit_counts = score_split(SPEC, SENTENCES, PREDS[(system, seed)], n_resamples=100, seed=seed,
                                       train=None if kind == "external" else TRAIN)
    return {
        "schema_version": 2, "task": {"name": "toy", "version": "1", "fingerprint": "f00d"},
        "system": {"name": system, "kind": kind, "model": EVIL if kind == "transformer" else None, "config_hash": "c"},
        "seed": seed, "split": "test", "metrics": metrics, "unit_counts": unit_counts,
        "cost": {"train_wall_seconds": 10.0 * (seed + 1), "peak_rss_mb": 500.0},
        "environment": {"git": {"sha": "0123456789abcdef", "dirty": False}, "cpu": "Test CPU", "cpu_count": 2},
        "cell_key": {"task": "toy", "task_version": "1", "data_fingerprint": "f00d", "system": system,
                     "system_config_hash": "c", "seed": seed, "scorer_version": SCORER_VERSION,
                     "system_version": system_version(kind)},
    }


class Catalog(dict):
    def get(self, name: str) -> TaskSpec:  # type: ignore[override]
        return self[name]


def write_page(folder: Path) -> tuple[Path, list[dict[str, Any]]]:
    """Results under ``folder/raw`` and the page as ``nerbench report`` writes it, ``folder/index.html``."""
    results, links = [], {}
    html_path = folder / "index.html"
    for system, seed in PREDS:
        r = make_result(system, seed)
        path = write_result(folder / "raw", r)
        results.append(r)
        links[id(r)] = os.path.relpath(path, html_path.parent)
    page = report.render_html(results, catalog=Catalog(toy=SPEC), result_links=links)
    html_path.write_text(REPORT_MARK.format(inputs="raw") + "\n" + page, encoding="utf-8")
    return html_path, results


class Tags(HTMLParser):
    """Every start tag with its attributes, and every table as rows of cell texts (and cell links)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.tables: list[list[list[str]]] = []
        self.links: list[list[list[str | None]]] = []
        self._cell: list[str] | None = None
        self._href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "table":
            self.tables.append([])
            self.links.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
            self.links[-1].append([])
        elif tag in ("td", "th"):
            self._cell, self._href = [], None
        elif tag == "a" and self._cell is not None:
            self._href = dict(attrs).get("href")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self.links[-1][-1].append(self._href)
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def parse(html: str) -> Tags:
    p = Tags()
    p.feed(html)
    return p


def test_page_is_escaped_and_self_contained(tmp_path: Path) -> None:
    html_path, _ = write_page(tmp_path)
    html = html_path.read_text(encoding="utf-8")
    tags = parse(html)
    # the task description, the model and the system name arrive escaped: the page's only script is its own
    assert [t for t, _ in tags.tags].count("script") == 1 and "<img" not in html and "<script>alert" not in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html and "&lt;script&gt;alert(&#34;task&#34;)" in html
    # nothing is fetched: no src/srcset, no stylesheet links, the CSP forbids any request
    assert not [t for t, a in tags.tags if "src" in a or "srcset" in a or t in ("link", "iframe", "object")]
    csp = [a["content"] for t, a in tags.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and csp[0].startswith("default-src 'none'")
    # ids are unique (several inlined SVGs) and every in-page link has its target
    ids = [a["id"] for _, a in tags.tags if a.get("id")]
    assert len(ids) == len(set(ids))
    hrefs = [a["href"] for t, a in tags.tags if t == "a" and a.get("href")]
    assert {h[1:] for h in hrefs if h.startswith("#")} <= set(ids)
    assert html.count("<svg") == 4  # F1 vs cost, per type, seen/unseen, error types
    assert report.render_html(_results_again(), catalog=Catalog(toy=SPEC), result_links={}) == \
        report.render_html(_results_again(), catalog=Catalog(toy=SPEC), result_links={})  # deterministic


def test_empty_page_says_so() -> None:
    page = report.render_html([])
    assert page.startswith("<!DOCTYPE html>") and "No results yet" in page and "<table" not in page


def test_no_plots() -> None:
    page = report.render_html(_results_again(), plots=False)
    assert "<svg" not in page and "<table" in page


def _results_again() -> list[dict[str, Any]]:
    return [make_result(system, seed) for system, seed in PREDS]


def test_tables_are_in_the_html_and_numbers_link_to_their_result_files(tmp_path: Path) -> None:
    html_path, results = write_page(tmp_path)
    tags = parse(html_path.read_text(encoding="utf-8"))
    leaderboard = next(t for t in tags.tables if "F1 (conlleval)" in t[0])
    assert leaderboard[0][:2] == ["system", "model"] and "seen F1" in leaderboard[0] and "unseen F1" in leaderboard[0]
    assert [row[0] for row in leaderboard[1:]] == ["crf", EXTERNAL, "minilm-l6"]  # report order, no JavaScript needed
    col = leaderboard[0].index("seen F1")
    assert [row[col] for row in leaderboard[1:]] == ["0.8000", "–", "1.0000 ↑"]
    titles = [t[0] for t in tags.tables]
    for header in ("train time (s)", "mean Δ F1 (conlleval)", "seen F1", "wrong boundaries", "4+", "gold \\ predicted"):
        assert any(header in h for h in titles), header
    # file links resolve to the result JSON; a one-seed row links its file, a mean over seeds its list of files
    files = [unquote(a["href"]) for t, a in tags.tags if t == "a" and a.get("href") and not a["href"].startswith("#")]
    assert files and all((html_path.parent / f).is_file() and f.endswith(".json") for f in files)
    links = tags.links[tags.tables.index(leaderboard)]
    numeric = [leaderboard[0].index(c) for c in ("F1 (conlleval)", "95% CI", "strict F1", "seen F1", "seeds")]
    crf_file = "raw/toy/crf/seed13-test.json"
    assert [unquote(links[1][i] or "") for i in numeric] == [crf_file] * len(numeric)
    # minilm-l6 is a mean over 2 seeds: its numbers link to its list of result files, which links both
    anchor = links[3][numeric[0]]
    assert anchor and anchor.startswith("#task-toy-src-") and all(links[3][i] == anchor for i in numeric)
    assert ("li", {"id": anchor[1:]}) in tags.tags
    for seed in (1, 2):
        assert f"raw/toy/minilm-l6/seed{seed}-test.json" in files
    assert files.count(crf_file) > 10 and len(results) == 4  # every number of the crf row, in every table
    # each leaderboard header says what its column means; the published numbers follow the test leaderboard
    ths = {a.get("title") for t, a in tags.tags if t == "th"}
    assert any(t and t.startswith("ignores the entity type") for t in ths)
    assert tags.tables.index(leaderboard) + 1 == titles.index(["system", "split", "metric", "value", "source"])
    # the most frequent missed mentions: ext.sys misses LOC "d" in all 6 sentences, minilm-l6 once over 2 seeds;
    # the CRF's stray I-PER is a wrong boundary, neither spurious nor missed
    examples = [t for t in tags.tables if t[0][:2] == ["#", "spurious mention"]]
    assert [t[1:] for t in examples] == [[["1", "none", "", "", "d", "LOC", "6"]], [["1", "none", "", "", "d", "LOC", "1"]]]


# ----------------------------------------------------------------------------- the browser


def find_browser() -> str | None:
    """``$NERBENCH_BROWSER``, else Chromium or Chrome on the PATH."""
    names = [os.environ["NERBENCH_BROWSER"]] if os.environ.get("NERBENCH_BROWSER") else []
    names += ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return None


class DevTools:
    """A minimal Chrome DevTools protocol client over one browser websocket (flattened sessions)."""

    def __init__(self, url: str) -> None:
        from websockets.sync.client import connect

        self.ws = connect(url, max_size=None, open_timeout=30)
        self.events: list[dict[str, Any]] = []
        self._id = 0

    def call(self, method: str, params: dict[str, Any] | None = None, *, session: str | None = None,
             timeout: float = 30.0) -> dict[str, Any]:
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.ws.send(json.dumps(msg))
        deadline = time.monotonic() + timeout
        while True:
            data = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if data.get("id") == self._id:
                if "error" in data:
                    raise RuntimeError(f"{method}: {data['error']}")
                return data.get("result", {})
            self.events.append(data)

    def wait_for(self, method: str, *, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for e in self.events:
                if e.get("method") == method:
                    return e
            self.events.append(json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic()))))

    def drain(self, seconds: float) -> None:
        """Collect the events that arrive within ``seconds`` (late console messages)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                self.events.append(json.loads(self.ws.recv(timeout=left)))
            except TimeoutError:
                return

    def close(self) -> None:
        self.ws.close()


def unavailable(why: str) -> NoReturn:
    """Skip, or fail where a browser is required (.ci/run sets NERBENCH_REQUIRE_BROWSER: never skipped in CI)."""
    if os.environ.get("NERBENCH_REQUIRE_BROWSER"):
        pytest.fail(f"{why} (NERBENCH_REQUIRE_BROWSER is set)")
    pytest.skip(why)


@pytest.fixture
def browser(tmp_path: Path) -> Any:
    """A headless Chromium with a fresh profile and no background networking; yields a DevTools client."""
    exe = find_browser()
    if exe is None:
        unavailable("no Chromium or Chrome found (apt-get install chromium, or set NERBENCH_BROWSER): "
                    "the page's real-browser test needs one")
    try:
        import websockets.sync.client  # noqa: F401
    except ImportError:
        unavailable("the browser test drives Chromium with the websockets package (pip install -e .[test])")
    profile = tmp_path / "profile"
    log = (tmp_path / "chromium.log").open("wb")
    proc = subprocess.Popen(
        [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-extensions", "--disable-default-apps",
         "--no-default-browser-check", f"--user-data-dir={profile}", "--remote-debugging-port=0",
         "--remote-debugging-address=127.0.0.1", "--window-size=1280,1000", "about:blank"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.is_file() and len(port_file.read_text().split()) >= 2):
            if proc.poll() is not None or time.monotonic() > deadline:
                log.close()
                pytest.fail(f"{exe} did not start (exit {proc.poll()}):\n"
                            + (tmp_path / "chromium.log").read_text(errors="replace")[-3000:])
            time.sleep(0.1)
        port, path = port_file.read_text().split()[:2]
        client = DevTools(f"ws://127.0.0.1:{port}{path}")
        try:
            yield client
        finally:
            client.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def artifacts_dir(tmp_path: Path) -> Path:
    d = Path(os.environ["NERBENCH_TEST_ARTIFACTS"]) if os.environ.get("NERBENCH_TEST_ARTIFACTS") else tmp_path
    d.mkdir(parents=True, exist_ok=True)
    return d


ROWS_JS = """(() => {
  const t = [...document.querySelectorAll("table.sortable")].find(
    t => [...t.tHead.rows[0].cells].some(c => c.textContent.trim() === "F1 (conlleval)"));
  return [...t.tBodies[0].rows].map(r => r.cells[0].textContent.trim());
})()"""

HEADER_JS = """(() => {
  const t = [...document.querySelectorAll("table.sortable")].find(
    t => [...t.tHead.rows[0].cells].some(c => c.textContent.trim() === "F1 (conlleval)"));
  const th = [...t.tHead.rows[0].cells].find(c => c.textContent.trim() === %s);
  th.scrollIntoView({block: "center"});
  const r = th.getBoundingClientRect();
  return [r.x + r.width / 2, r.y + r.height / 2];
})()"""


TIPS_JS = """(() => {
  const th = [...document.querySelectorAll("th")].find(c => c.textContent.trim() === %s);
  return [th.title, th.querySelector("button").title];
})()"""

ORDER_JS = """(() => {
  const keys = ["F1 (conlleval)", "Columns:", "Published reference numbers", "Per-type F1", "Most frequent spurious"];
  const found = [...document.querySelectorAll("section:first-of-type th, section:first-of-type p")]
    .map(e => e.textContent.trim()).map(t => keys.find(k => t.startsWith(k))).filter(k => k);
  return found.filter((k, i) => found.indexOf(k) === i);
})()"""


def open_page(browser: DevTools, html_path: Path) -> tuple[str, Any]:
    """A new 1280x1000 tab with ``html_path`` loaded: its session id and an ``evaluate(js)`` returning the value."""
    target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Page", "Runtime", "Log", "Network"):
        browser.call(f"{domain}.enable", session=session)
    browser.call("Emulation.setDeviceMetricsOverride",
                 {"width": 1280, "height": 1000, "deviceScaleFactor": 1, "mobile": False}, session=session)
    browser.call("Page.navigate", {"url": html_path.as_uri()}, session=session)
    browser.wait_for("Page.loadEventFired")
    browser.drain(0.5)

    def evaluate(expr: str) -> Any:
        res = browser.call("Runtime.evaluate", {"expression": expr, "returnByValue": True}, session=session)
        assert "exceptionDetails" not in res, res["exceptionDetails"]
        return res["result"]["value"]

    return session, evaluate


@pytest.mark.slow
def test_page_in_a_real_browser(tmp_path: Path, browser: DevTools) -> None:
    html_path, _ = write_page(tmp_path)
    session, evaluate = open_page(browser, html_path)

    def click(header: str) -> None:
        x, y = evaluate(HEADER_JS % json.dumps(header))
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            browser.call("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left",
                                                      "clickCount": 1}, session=session)

    # standards mode (the generated-by comment before <!DOCTYPE> does not switch to quirks)
    assert evaluate("document.compatMode") == "CSS1Compat"
    assert evaluate(ROWS_JS) == ["crf", EXTERNAL, "minilm-l6"]
    click("F1 (conlleval)")  # numbers: highest first
    assert evaluate(ROWS_JS) == ["minilm-l6", "crf", EXTERNAL]
    click("F1 (conlleval)")  # again: lowest first
    assert evaluate(ROWS_JS) == [EXTERNAL, "crf", "minilm-l6"]
    click("seen F1")  # ext.sys has none ("–"): last either way
    assert evaluate(ROWS_JS) == ["minilm-l6", "crf", EXTERNAL]
    click("system")  # text: alphabetical
    assert evaluate(ROWS_JS) == sorted([EXTERNAL, "crf", "minilm-l6"], key=str.lower)
    # a header's meaning is its tooltip, on the sort button too (the element under the pointer)
    tips = evaluate(TIPS_JS % json.dumps("partial F1"))
    assert tips[0].startswith("ignores the entity type") and tips[1] == tips[0] + " (click to sort)", tips
    # the published numbers come right after the test leaderboard (its legend and notes between), the examples later
    assert evaluate(ORDER_JS) == ["F1 (conlleval)", "Columns:", "Published reference numbers", "Per-type F1",
                                  "Most frequent spurious"]

    browser.drain(0.3)
    errors = [e["params"] for e in browser.events if e.get("method") == "Runtime.exceptionThrown"
              or (e.get("method") == "Runtime.consoleAPICalled" and e["params"].get("type") in ("error", "assert"))
              or (e.get("method") == "Log.entryAdded" and e["params"]["entry"].get("level") == "error")]
    assert errors == []
    requests = [e["params"]["request"]["url"] for e in browser.events if e.get("method") == "Network.requestWillBeSent"]
    assert requests == [html_path.as_uri()]  # the page itself and nothing else

    evaluate("window.scrollTo(0, 0)")
    shot = artifacts_dir(tmp_path) / "report-page.png"
    shot.write_bytes(base64.b64decode(browser.call("Page.captureScreenshot", {"format": "png"},
                                                   session=session)["data"]))
    size = evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
    full = artifacts_dir(tmp_path) / "report-page-full.png"
    full.write_bytes(base64.b64decode(browser.call(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True,
                                   "clip": {"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1}},
        session=session, timeout=60)["data"]))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    print(f"screenshots: {shot} {full}")


CURVE_ROWS_JS = """(() => {
  const t = document.querySelector("#learning-curves").closest("section").querySelector("table.sortable");
  return [...t.tBodies[0].rows].map(r => r.cells[0].textContent.trim() + " " + r.cells[1].textContent.trim());
})()"""

CURVE_HEADER_JS = """(() => {
  const t = document.querySelector("#learning-curves").closest("section").querySelector("table.sortable");
  const th = [...t.tHead.rows[0].cells].find(c => c.textContent.trim() === %s);
  th.scrollIntoView({block: "center"});
  const r = th.getBoundingClientRect();
  return [r.x + r.width / 2, r.y + r.height / 2];
})()"""


@pytest.mark.slow
def test_learning_curves_in_a_real_browser(tmp_path: Path, browser: DevTools) -> None:
    """The learning-curve section of a page made from curve results (tests/test_curves_report.py): linked from
    the page's contents, its figure inline, its crossover sentence shown, its table sortable and linked to the
    result files, no error and no request."""
    from .test_curves_report import curve

    html_path = tmp_path / "index.html"
    results, links = [], {}
    for r in curve(crf=(30, 35, 40, 42), other=(12, 36, 55, 58)):
        path = write_result(tmp_path / "raw", r)
        results.append(r)
        links[id(r)] = os.path.relpath(path, tmp_path)
    html_path.write_text(REPORT_MARK.format(inputs="raw") + "\n" + report.render_html(results, result_links=links),
                         encoding="utf-8")
    session, evaluate = open_page(browser, html_path)

    assert evaluate("[...document.querySelectorAll('nav a')].map(a => a.getAttribute('href'))") == \
        ["#task-toy", "#learning-curves"]
    section = "document.querySelector('#learning-curves').closest('section')"
    assert "minilm beats crf from 1,000 training sentences on" in evaluate(f"{section}.innerText")
    box = evaluate(f"(() => {{ const r = {section}.querySelector('figure svg').getBoundingClientRect(); "
                   "return [r.width, r.height]; })()")
    assert box[0] > 400 and box[1] > 150  # the figure is drawn, at a readable size
    first = evaluate(CURVE_ROWS_JS)
    assert first[:2] == ["100 crf", "100 minilm"] and first[-1] == "all (2,000) minilm"
    x, y = evaluate(CURVE_HEADER_JS % json.dumps("F1 (conlleval)"))
    for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
        browser.call("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1},
                     session=session)
    assert evaluate(CURVE_ROWS_JS)[0] == "all (2,000) minilm"  # highest F1 first
    hrefs = evaluate(f"[...{section}.querySelectorAll('table a')].map(a => a.getAttribute('href'))")
    assert any(h.startswith("raw/toy/minilm/n1000/") or h.startswith("#learning-curves-src-") for h in hrefs)
    browser.drain(0.3)
    errors = [e["params"] for e in browser.events if e.get("method") == "Runtime.exceptionThrown"
              or (e.get("method") == "Log.entryAdded" and e["params"]["entry"].get("level") == "error")]
    assert errors == []
    requests = [e["params"]["request"]["url"] for e in browser.events if e.get("method") == "Network.requestWillBeSent"]
    assert requests == [html_path.as_uri()]
    evaluate(f"{section}.scrollIntoView()")
    shot = artifacts_dir(tmp_path) / "report-learning-curves.png"
    shot.write_bytes(base64.b64decode(browser.call("Page.captureScreenshot", {"format": "png"}, session=session)["data"]))
    print(f"screenshot: {shot}")
