"""The desk end to end in a real browser: headless Chromium (Debian's `chromium` and
`chromium-driver`, driven by Selenium; nothing is downloaded) against `sellerbot serve` running as
a process, with a seller on `sellerbot chat --jsonl` in another process on the same database.

Every wait is for something on the page (WebDriverWait, bounded only as a guard against a hang).
Screenshots of the queue and the conversation are saved to $SELLERBOT_TEST_SCREENSHOTS (else to
the test's folder)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bot.test_chat_cli import JsonlChat, environment, messages
from tests.conftest import prepare_data_dir

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
SCRIPT = shutil.which("sellerbot", path=str(Path(sys.executable).parent))
GUARD = 30  # seconds: only against a hang; every wait ends as soon as its event happens

# CI installs the browser and sets SELLERBOT_TEST_BROWSER=required: there a missing browser fails.
if not (CHROMIUM and DRIVER) and os.environ.get("SELLERBOT_TEST_BROWSER") == "required":
    raise RuntimeError("SELLERBOT_TEST_BROWSER=required but chromium or chromedriver is missing")
pytestmark = [
    pytest.mark.skipif(
        not (CHROMIUM and DRIVER),
        reason="headless Chromium not installed (apt-get install chromium chromium-driver)",
    ),
    pytest.mark.slow,  # a browser and a `sellerbot serve` process
]


def sellerbot(data: Path, *args: str) -> str:
    done = subprocess.run(
        [SCRIPT, *args, "--data-dir", str(data)],
        capture_output=True,
        text=True,
        env=environment(),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def data(tmp_path: Path, matcher_cache: Path) -> Path:
    data = tmp_path / "data"
    prepare_data_dir(data, matcher_cache)
    return data


@pytest.fixture
def server(data: Path) -> Iterator[str]:
    proc = subprocess.Popen(
        [SCRIPT, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data)],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env={**environment(), "SELLERBOT_WEB__LIVE_POLL_SECONDS": "0.3"},
    )
    assert proc.stderr is not None
    url = None
    for line in proc.stderr:  # the line that says where it listens comes once it does
        if found := re.search(r"serving on (http://\S+)", line):
            url = found.group(1)
            break
    assert url, f"sellerbot serve did not start: {proc.poll()}"
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=GUARD)


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(DRIVER), options=options)


def screenshots_dir(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("SELLERBOT_TEST_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_a_seller_asks_for_a_person_and_an_agent_helps_in_the_browser(
    server: str, data: Path, tmp_path: Path
) -> None:
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    link = sellerbot(data, "admin", "agent", "create", "--email", "lead@support.example", "--name", "Li Na",
                     "--role", "lead", "--lang", "en", "--print-link").strip()  # fmt: skip
    other_link = sellerbot(data, "admin", "agent", "create", "--email", "wang@support.example", "--name",
                           "Wang Wei", "--lang", "en", "--print-link").strip()  # fmt: skip
    path = link[link.index("/desk/") :]
    agent, second = browser(), browser()
    seller = JsonlChat(data, "--demo", "--user", "seller-1")
    shots = screenshots_dir(tmp_path)
    try:
        # A live refresh may replace an element between finding it and reading it: look again.
        replaced = (StaleElementReferenceException, WebDriverException)
        wait = WebDriverWait(agent, GUARD, ignored_exceptions=replaced)
        # The agent sets a password through the link, signs in and opens the queue
        agent.get(server + path)
        agent.find_element(By.ID, "password").send_keys("correct horse battery")
        agent.find_element(By.ID, "password-again").send_keys("correct horse battery")
        agent.find_element(By.ID, "set-password").click()
        wait.until(seen.text_to_be_present_in_element((By.ID, "message"), "Your password is set."))
        agent.find_element(By.ID, "email").send_keys("lead@support.example")
        agent.find_element(By.ID, "password").send_keys("correct horse battery")
        agent.find_element(By.ID, "sign-in").click()
        wait.until(seen.presence_of_element_located((By.ID, "queue-rows")))
        assert "Nothing here." in agent.find_element(By.ID, "queue-rows").text

        # The seller asks for a person, then asks a question the knowledge base answers
        seller.send(text="转人工")
        seller.send(text="佣金是多少?")
        # It arrives live, without a reload, with the seller's last words
        wait.until(seen.text_to_be_present_in_element((By.ID, "queue-rows"), "佣金是多少"))
        row_text = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#queue-rows tr[data-handoff]").text)
        assert "console" in row_text and "zh" in row_text
        assert "1 to answer" in agent.find_element(By.ID, "unread").text
        agent.save_screenshot(str(shots / "desk-queue.png"))

        # Claim, read the context card, send the suggested answer with a file, close
        wait.until(seen.element_to_be_clickable((By.CSS_SELECTOR, "#queue-rows tr[data-handoff] a"))).click()
        wait.until(seen.element_to_be_clickable((By.ID, "claim"))).click()
        wait.until(seen.text_to_be_present_in_element((By.ID, "state"), "You have this conversation."))
        # (Live refreshes replace the card and the transcript: each is read when it is there.)
        card = wait.until(lambda d: d.find_element(By.ID, "context-card").text)
        assert "Company" in card and "Stores" in card  # the demo seller's account
        suggestion = agent.find_element(By.ID, "suggestion").text
        agent.find_element(By.ID, "use-suggestion").click()
        assert agent.find_element(By.ID, "reply-text").get_attribute("value") == suggestion.strip()
        attachment = tmp_path / "fees.txt"
        attachment.write_text("commission table", encoding="utf-8")
        agent.find_element(By.ID, "reply-file").send_keys(str(attachment))
        agent.find_element(By.ID, "send").click()
        wait.until(seen.text_to_be_present_in_element((By.ID, "notice"), "Sent."))
        agent.save_screenshot(str(shots / "desk-conversation.png"))

        # A second agent sees it taken, with no reply box
        wait2 = WebDriverWait(second, GUARD, ignored_exceptions=replaced)
        second.get(server + other_link[other_link.index("/desk/") :])
        second.find_element(By.ID, "password").send_keys("another good password")
        second.find_element(By.ID, "password-again").send_keys("another good password")
        second.find_element(By.ID, "set-password").click()
        wait2.until(seen.presence_of_element_located((By.ID, "email"))).send_keys("wang@support.example")
        second.find_element(By.ID, "password").send_keys("another good password")
        second.find_element(By.ID, "sign-in").click()
        wait2.until(seen.presence_of_element_located((By.ID, "queue-rows")))
        second.get(agent.current_url.split("?")[0])
        taken = "Li Na (web lead@support.example) has taken this conversation."
        wait2.until(seen.text_to_be_present_in_element((By.ID, "state"), taken))
        assert not second.find_elements(By.ID, "reply-form")

        # The seller gets the answer and the file with their next message
        got = seller.send(text="好的")
        assert suggestion.strip() in messages(got)
        assert any(
            f["name"].endswith("fees.txt") for i in got if i["type"] == "message" for f in i.get("files", [])
        )

        agent.find_element(By.ID, "close").click()
        wait.until(seen.text_to_be_present_in_element((By.ID, "notice"), "Closed."))
        closing = messages(seller.send(text="谢谢"))
        assert any("打分" in m for m in closing), closing  # the rating request

        # The report counts the handoff
        agent.get(server + "/desk/reports")
        assert wait.until(seen.presence_of_element_located((By.ID, "handoff-count"))).text == "1"
    finally:
        agent.quit()
        second.quit()
        seller.close()
