"""The Streamlit leaderboard in a real headless Chromium (system chromium + chromedriver).

Moves the release-date window and checks that the LiveCodeBench table changes (a published
model comes back once its release date is before the window start), then opens a per-problem
drill-down. Screenshots go to ``results/``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from store_support import fixture_results

from apr_eval.cli.store import streamlit_command
from apr_eval.leaderboard import ingest, published

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
LEADERBOARD = next((p / "shared/data/livecodebench/leaderboard_performances_generation_2025-04-22"
                    ".json" for p in (ROOT, ROOT.parent)
                    if (p / "shared/data/livecodebench").is_dir()), Path("missing"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
webdriver = pytest.importorskip("selenium.webdriver")
pytest.importorskip("streamlit")
if not (CHROMIUM and CHROMEDRIVER):
    pytest.skip("needs Debian's chromium and chromium-driver", allow_module_level=True)
if not LEADERBOARD.exists():
    pytest.skip(f"needs {LEADERBOARD}", allow_module_level=True)

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"streamlit exited with {proc.returncode}")
        with contextlib.suppress(OSError), \
                urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
            if r.read().strip() == b"ok":
                return
        time.sleep(0.5)
    raise AssertionError("streamlit did not come up")


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("browser")
    db = root / "apr-eval.duckdb"
    published.import_published(db, LEADERBOARD)
    fixture_results(root / "results")
    ingest.rebuild(db, root / "results")
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = (root / "streamlit.log").open("wb")
    proc = subprocess.Popen(streamlit_command(db, port), cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        _wait_healthy(f"http://localhost:{port}", proc)
        yield f"http://localhost:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1500,1400"):
        options.add_argument(arg)
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER)
    driver = webdriver.Chrome(service=service, options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _until(driver: Any, check: Callable[[], Any], timeout: float = 60) -> Any:
    return WebDriverWait(driver, timeout, poll_frequency=0.3).until(lambda _: check())


def _lcb_models(driver: Any) -> list[str]:
    """The model column of the first table (LiveCodeBench), from the grid's accessible cells."""
    grid = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stDataFrame"]')
    if not grid:
        return []
    cells = grid[0].find_elements(By.CSS_SELECTOR, 'td[aria-colindex="2"]')
    return [c.get_attribute("textContent") for c in cells]


def _summary(driver: Any) -> str:
    for p in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stMarkdownContainer"] p'):
        text = p.text
        if text.startswith("Window "):
            return str(text)
    return ""


def _screenshot(driver: Any, name: str) -> Path:
    out = ROOT / "results"
    out.mkdir(exist_ok=True)
    path = out / name
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 10_000
    return path


def test_window_slider_changes_the_livecodebench_table(app_url: str, browser: Any) -> None:
    browser.get(app_url)
    _until(browser, lambda: "top:" in _summary(browser) and len(_lcb_models(browser)) > 5)
    before_summary, before = _summary(browser), _lcb_models(browser)
    assert before_summary.startswith("Window 2023-05-01 → 2025-04-30: 1055 problems, "
                                     "12 models shown, 6 contaminated hidden")
    assert "DeepSeek-V3" not in before  # released 2024-06-30: contaminated for this window
    # The range slider's two thumbs are (visually hidden) range inputs: start, end.
    thumbs = _until(browser, lambda: browser.find_elements(
        By.CSS_SELECTOR, '[data-testid="stSlider"] input[type="range"]'))
    assert len(thumbs) == 2
    browser.execute_script("arguments[0].focus()", thumbs[0])
    for _ in range(15):  # 2023-05 -> 2024-08, one month per key
        thumbs[0].send_keys(Keys.ARROW_RIGHT)
    _until(browser, lambda: _summary(browser).startswith("Window 2024-08-01"))
    after = _until(browser, lambda: (m := _lcb_models(browser)) and "DeepSeek-V3" in m and m)
    assert after != before
    assert len(after) == 18 and len(before) == 12  # 6 published models come back
    summary = _summary(browser)
    assert "454 problems, 18 models shown, 0 contaminated hidden" in summary
    _screenshot(browser, "leaderboard-window.png")


def test_drilldown_shows_samples(app_url: str, browser: Any) -> None:
    browser.get(app_url)
    tab = _until(browser, lambda: [t for t in browser.find_elements(
        By.CSS_SELECTOR, '[role="tab"]') if t.text == "Drill-down"])
    tab[0].click()
    run = _until(browser, lambda: browser.find_elements(By.CSS_SELECTOR,
                                                        'input[aria-label="Run"]'))
    assert run[0].get_attribute("value") == "q4-he"  # first of your own runs
    problem = browser.find_element(By.CSS_SELECTOR, 'input[aria-label="Problem"]')
    problem.click()
    problem.send_keys("HumanEval/1", Keys.ENTER)

    def code_shown() -> bool:
        text = browser.find_element(By.TAG_NAME, "body").text
        return "q4-he HumanEval/1 0" in text and "expected: 3" in text

    _until(browser, code_shown)
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "sample 0: failed (base: passed, plus: failed)" in body
    assert "AssertionError" in body  # the error tail
    _screenshot(browser, "leaderboard-drilldown.png")


def test_grouped_tables_and_window_curve_with_intervals(app_url: str, browser: Any) -> None:
    browser.get(app_url)

    def body() -> str:
        return str(browser.find_element(By.TAG_NAME, "body").text)

    _until(browser, lambda: "sample(s)/problem" in body(), timeout=180)
    assert "4 problems, 1 sample(s)/problem, temperature 0" in body()  # a settings group
    assert "Runs are ranked only against runs with the same settings" in body()
    assert "None" not in body()  # empty cells are empty
    tab = [t for t in browser.find_elements(By.CSS_SELECTOR, '[role="tab"]')
           if t.text == "Plots"]
    tab[0].click()
    _until(browser, lambda: "problems in window" in body(), timeout=180)
    assert "fewer than 100 problems" in body()  # the late windows are small: said so
    assert "95% interval (error bars)" in body()
    _screenshot(browser, "leaderboard-curve-intervals.png")
