"""The admin in a real browser: sign in through the login page in headless Chromium (Debian's
chromium and chromium-driver, driven by Selenium; nothing is downloaded at run time), read the
usage chart and the health panel as drawn, run a tick from the button, and save screenshots to
.artifacts/screenshots/ (git-ignored) for a person to look at.

Skipped where /usr/bin/chromium is missing, unless USAGE_ROLLUP_REQUIRE_BROWSER is set (CI sets
it after installing the packages), which turns the skip into a failure.
"""

import datetime
import os
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.urls import reverse

from tests import world
from tests.oracle import oracle_buckets
from usage_rollup import rollup

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOTS = Path(settings.BASE_DIR) / ".artifacts" / "screenshots"
# No network here: nothing in the background may try to reach one.
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,1100",
)
NOW = datetime.datetime.now(datetime.UTC)
YESTERDAY_NOON = datetime.datetime.combine(
    NOW.date() - datetime.timedelta(days=1), datetime.time(12), tzinfo=datetime.UTC
)
TODAY_START = datetime.datetime.combine(NOW.date(), datetime.time(0), tzinfo=datetime.UTC)


@pytest.fixture
def browser(tmp_path):
    """A headless Chromium with a fresh profile, driven through chromedriver."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        reason = f"{CHROMIUM} or {CHROMEDRIVER} is missing (apt-get install chromium-driver)"
        if os.environ.get("USAGE_ROLLUP_REQUIRE_BROWSER"):
            pytest.fail(reason)
        pytest.skip(reason)
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(
        options=options, service=webdriver.ChromeService(executable_path=str(CHROMEDRIVER))
    )
    driver.implicitly_wait(5)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


def _operator() -> User:
    user = User.objects.create_user("operator", password="a-long-password", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label__in=("usage_rollup", "usage_rollup_source")
        ).filter(codename__startswith="view_")
        | Permission.objects.filter(codename="operate_rollup")
    )
    return user


def _sign_in(browser, live_server, username: str) -> None:
    from selenium.webdriver.common.by import By

    browser.get(live_server.url + reverse("admin:login"))
    browser.find_element(By.NAME, "username").send_keys(username)
    browser.find_element(By.NAME, "password").send_keys("a-long-password")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    assert browser.find_element(By.ID, "user-tools").text.upper().startswith("WELCOME")


def test_an_operator_reads_the_chart_and_the_health_panel_and_runs_a_tick(browser, live_server):
    from selenium.webdriver.common.by import By

    ws = world.workspace()
    runtime = world.runtime(ws)
    agent = world.agent(ws)
    for at, tokens in ((YESTERDAY_NOON, 1200), (TODAY_START, 800)):
        task = world.task(agent, runtime)
        world.usage(task, "claude-sonnet", at=at, input_tokens=tokens, output_tokens=100)
        world.usage(task, "claude-haiku", at=at, input_tokens=tokens // 2)
    rollup.tick(datetime.timedelta(0))
    task.usage.get(model="claude-haiku").delete()  # one bucket waits in the dirty queue
    _sign_in(browser, live_server, _operator().username)

    browser.get(
        live_server.url
        + reverse("admin:usage_rollup_source_agentruntime_usage_chart", args=[runtime.pk])
    )
    chart = browser.find_element(By.CSS_SELECTOR, "svg.usage-chart")
    bars = {
        (bar.get_attribute("data-day"), bar.get_attribute("data-model")): int(
            bar.get_attribute("data-tokens")
        )
        for bar in chart.find_elements(By.CSS_SELECTOR, "rect.bar")
    }
    legend = [entry.text for entry in chart.find_elements(By.CSS_SELECTOR, "g.legend-entry")]
    browser.save_screenshot(str(SCREENSHOTS / "usage_chart.png"))

    with connection.cursor() as cursor:
        expected = {
            (key[0].isoformat(), f"{key[3]}/{key[4]}"): sum(values[:4])
            for key, values in oracle_buckets(cursor).items()
        }
    assert bars == expected
    assert legend == ["anthropic/claude-sonnet", "anthropic/claude-haiku"]
    assert chart.size["width"] > 400 and chart.size["height"] > 200  # drawn, not just present

    browser.get(live_server.url + reverse("admin:usage_rollup_taskusagerollupstate_changelist"))
    panel = browser.find_element(By.CSS_SELECTOR, ".health-panel")
    rows = {
        row.find_element(By.TAG_NAME, "th").text: row.find_element(By.TAG_NAME, "td").text
        for row in panel.find_elements(By.CSS_SELECTOR, "tr")
    }
    browser.save_screenshot(str(SCREENSHOTS / "health_panel.png"))

    assert panel.get_attribute("data-level") == "ok"
    assert "Health: green" in panel.text
    assert panel.value_of_css_property("border-left-color") == "rgba(46, 125, 50, 1)"
    assert rows["Watermark"].endswith("s behind the clock")
    assert rows["Dirty queue"].startswith("1 bucket, the oldest queued ")
    assert rows["Last error"] == "none (0 failed runs in all)"

    browser.find_element(By.ID, "run-tick").click()
    message = browser.find_element(By.CSS_SELECTOR, "ul.messagelist li").text
    queue = browser.find_element(By.CSS_SELECTOR, ".health-panel tr[data-label='Dirty queue'] td")
    browser.save_screenshot(str(SCREENSHOTS / "health_panel_after_tick.png"))

    assert message.startswith("Tick done: 1 rollup row changed")
    assert queue.text == "0 buckets"
