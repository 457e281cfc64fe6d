"""The operator page in headless Chromium (Debian's chromium + chromedriver, driven by Selenium).

Screenshots go to ``artifacts/`` (gitignored). Without Chromium the test skips
with a message — except in CI, where a missing browser is a failure.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.sample_host.support import API_KEY, AUTH, RunningHost, run_host

pytestmark = pytest.mark.slow

ARTIFACTS = Path(__file__).parents[2] / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def _browser_or_skip() -> Any:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    try:
        from selenium import webdriver
    except ImportError:
        missing.append("the selenium package")
        webdriver = None
    if missing:
        message = f"headless Chromium test needs {', '.join(missing)} (apt-get install chromium chromium-driver)"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI must run it")
        pytest.skip(message)
    return webdriver


@pytest.fixture
def browser() -> Iterator[Any]:
    webdriver = _browser_or_skip()
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1400,1600",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def host(tmp_path: Path) -> Iterator[RunningHost]:
    with run_host(f"sqlite+aiosqlite:///{tmp_path}/operator.db", simulator_delay=1.0) as running:
        yield running


def _wait(driver: Any, condition: Callable[[Any], Any], timeout: float = 30) -> Any:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # The page re-renders its tables while it polls: an element found a moment ago can
    # be replaced before it is read. Ask again rather than fail on that.
    return WebDriverWait(
        driver,
        timeout,
        poll_frequency=0.1,
        ignored_exceptions=(NoSuchElementException, StaleElementReferenceException),
    ).until(condition)


def _screenshot(driver: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / name))


def _row_status(driver: Any, account: str) -> str:
    from selenium.webdriver.common.by import By

    row = driver.find_element(By.CSS_SELECTOR, f'#policies tr[data-account="{account}"]')
    return str(row.find_element(By.CSS_SELECTOR, ".badge").text)


def _open(driver: Any, host: RunningHost) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{host.url}/#key={API_KEY}")
    _wait(
        driver, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true"
    )


def test_request_a_payment_and_watch_it_complete(browser: Any, host: RunningHost) -> None:
    from selenium.webdriver.common.by import By

    _open(browser, host)
    assert _row_status(browser, "POL0012345") == "Due"
    row = browser.find_element(By.CSS_SELECTOR, '#policies tr[data-account="POL0012345"]')
    row.find_element(By.TAG_NAME, "button").click()
    assert browser.find_element(By.ID, "pay-account").get_attribute("value") == "POL0012345"
    assert browser.find_element(By.ID, "pay-amount").get_attribute("value") == "1500"
    browser.find_element(By.ID, "pay-submit").click()

    state = browser.find_element(By.ID, "pay-state")
    _wait(browser, lambda d: state.get_attribute("data-status") in ("PENDING", "COMPLETED"))
    _wait(browser, lambda d: state.get_attribute("data-status") == "COMPLETED")
    assert "receipt" in browser.find_element(By.ID, "pay-detail").text
    _wait(browser, lambda d: _row_status(d, "POL0012345") == "Paid")
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#payments tbody tr"))
    payment = browser.find_element(By.CSS_SELECTOR, "#payments tbody tr").text
    assert "POL0012345" in payment or "MTR-24-0012" in payment
    _screenshot(browser, "operator-stk-completed.png")


def test_errors_are_explained(browser: Any, host: RunningHost) -> None:
    from selenium.webdriver.common.by import By

    _open(browser, host)
    account = browser.find_element(By.ID, "pay-account")
    account.clear()
    account.send_keys("POL0000000")
    browser.find_element(By.ID, "pay-submit").click()
    error = browser.find_element(By.ID, "error")
    _wait(browser, lambda d: error.is_displayed())
    assert error.get_attribute("data-code") == "unknown_account"
    # One sentence: the page's explanation alone, not followed by the kit's own wording.
    assert error.text == "Unknown account: no policy has this payment account number."

    account.clear()
    account.send_keys("POL0012345")
    phone = browser.find_element(By.ID, "pay-phone")
    phone.clear()
    phone.send_keys("12345")
    browser.find_element(By.ID, "pay-submit").click()
    _wait(browser, lambda d: error.get_attribute("data-code") == "invalid_phone_number")
    assert "Invalid phone number" in error.text
    _screenshot(browser, "operator-error.png")


def test_upload_a_statement_and_see_its_statistics(
    browser: Any, host: RunningHost, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    if not host.has_route("internal", "/statements"):
        pytest.skip("the kit has no statement upload route yet")
    statement = tmp_path / "statement.csv"
    statement.write_bytes(host.http.get("/api/sample-statement.csv", headers=AUTH).content)
    _open(browser, host)
    browser.find_element(By.ID, "statement-file").send_keys(str(statement))
    browser.find_element(By.ID, "statement-upload").click()
    result = browser.find_element(By.ID, "statement-result")
    _wait(browser, lambda d: result.is_displayed())
    assert browser.find_element(By.ID, "stat-total").text == "4"
    assert browser.find_element(By.ID, "stat-gaps").text == "4"
    assert browser.find_element(By.ID, "stat-failed").text == "0"
    _wait(browser, lambda d: all(_row_status(d, a) == "Paid" for a in ("POL0012345", "POL0077001")))
    _screenshot(browser, "operator-statement.png")


def test_a_refused_key_says_so_and_asks_for_another(browser: Any, host: RunningHost) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{host.url}/#key=not-the-key")
    panel = browser.find_element(By.ID, "key-panel")
    error = browser.find_element(By.ID, "error")
    _wait(browser, lambda d: panel.is_displayed() and error.is_displayed())
    assert error.get_attribute("data-code") == "unauthenticated"
    assert "refused" in error.text
    banner = browser.find_element(By.ID, "env-banner")
    assert "Loading" not in banner.text
    assert "refused" in banner.text
    assert not browser.find_element(By.ID, "app").is_displayed()
    _screenshot(browser, "operator-key-refused.png")

    key = browser.find_element(By.ID, "api-key")
    key.clear()
    key.send_keys(API_KEY)
    browser.find_element(By.CSS_SELECTOR, "#key-form button").click()
    _wait(
        browser, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true"
    )
    assert not error.is_displayed()
    assert not panel.is_displayed()
    assert "Environment:" in banner.text


def test_a_failed_upload_clears_the_last_statistics(
    browser: Any, host: RunningHost, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    if not host.has_route("internal", "/statements"):
        pytest.skip("the kit has no statement upload route yet")
    good = tmp_path / "statement.csv"
    good.write_bytes(host.http.get("/api/sample-statement.csv", headers=AUTH).content)
    bad = tmp_path / "not-a-statement.csv"
    bad.write_text("hello,world\n1,2\n", encoding="utf-8")
    _open(browser, host)
    result = browser.find_element(By.ID, "statement-result")
    browser.find_element(By.ID, "statement-file").send_keys(str(good))
    browser.find_element(By.ID, "statement-upload").click()
    _wait(browser, lambda d: result.is_displayed())
    assert browser.find_element(By.ID, "stat-total").text == "4"

    browser.find_element(By.ID, "statement-file").send_keys(str(bad))
    browser.find_element(By.ID, "statement-upload").click()
    error = browser.find_element(By.ID, "error")
    _wait(browser, lambda d: error.is_displayed())
    assert not result.is_displayed()
    assert browser.find_element(By.ID, "stat-total").get_attribute("textContent") == ""
    assert error.text.strip(), "a failed upload says why"
    _screenshot(browser, "operator-upload-failed.png")


def test_usable_at_360_px_with_day_first_nairobi_dates(browser: Any, host: RunningHost) -> None:
    import re

    from selenium.webdriver.common.by import By

    browser.set_window_size(360, 900)
    _open(browser, host)
    browser.find_element(By.ID, "pay-submit").click()
    state = browser.find_element(By.ID, "pay-state")
    _wait(browser, lambda d: state.get_attribute("data-status") == "COMPLETED")
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#payments tbody tr"))
    width, inner = browser.execute_script(
        "return [document.scrollingElement.scrollWidth, window.innerWidth];"
    )
    assert inner <= 400
    assert width <= inner, f"the page is {width} px wide in a {inner} px window"
    time = browser.find_element(By.CSS_SELECTOR, "#payments tbody tr td:nth-child(2)")
    text = time.get_attribute("textContent")
    assert re.fullmatch(r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}", text), text
    _screenshot(browser, "operator-360px.png")
