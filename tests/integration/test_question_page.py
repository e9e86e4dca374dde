"""The question page as a person uses it, in headless Chromium (Debian's ``chromium`` and ``chromium-driver``,
driven by Selenium; no browser download): the API-key prompt, a highlighted answer, the not-found state, hostile
document text shown as text, a file name that is not UTF-8, and the API docs rendered offline."""

import os
import shutil
from pathlib import Path

import pytest
from serve_process import ServeProcess

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
KEY = "page-test-key-7f3a"
HOSTILE = ("<script>window.__pwned = 1;</script> The Hostile Tower was built by Mallory Evans in 1999. "
           "<img src=x onerror=\"document.title='pwned'\"> It stands by the harbour.")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not Path(path).exists()]
    if missing:
        message = (f"needs Debian's chromium and chromium-driver ({', '.join(missing)} not found): "
                   "apt-get install chromium chromium-driver")
        if os.environ.get("SPANBERT_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                     "--no-first-run", "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--window-size=1000,1100",
                     f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from spanbert_reader.app.settings import demo_model_path

    model = demo_model_path()
    if model is None:
        pytest.skip("the bundled demo reader is not in this checkout")
    root = tmp_path_factory.mktemp("page")
    folder = root / "corpus"
    folder.mkdir()
    (folder / "louvre.md").write_text((ROOT / "examples" / "corpus" / "louvre.md").read_text())
    (folder / "hostile.txt").write_text(HOSTILE)
    bad_name = os.path.join(os.fsencode(folder), b"caf\xff-notes.txt")  # a file name that is not UTF-8
    with open(bad_name, "w") as handle:
        handle.write("The Blue Lagoon cafe serves coffee grown in the highlands of Kenya.")
    with ServeProcess(folder, root / "data", model, "--api-key", KEY) as process:
        yield process


def _shot(driver, name: str, tmp_path: Path) -> None:
    driver.save_screenshot(str(tmp_path / f"{name}.png"))
    target = os.environ.get("SPANBERT_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(target) / f"{name}.png"))


def _ask(driver, question: str):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    box = driver.find_element(By.ID, "question")
    box.clear()
    box.send_keys(question, Keys.ENTER)


def _wait(driver, condition, timeout: float = 60):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)


def _answers_for(driver, question: str):
    from selenium.webdriver.common.by import By

    _ask(driver, question)
    _wait(driver, lambda d: d.find_element(By.ID, "status").text not in ("", "Searching your documents…")
          or d.find_elements(By.CSS_SELECTOR, ".not-found"))
    return driver.find_elements(By.CSS_SELECTOR, "#results .answer")


def test_a_person_asks_with_a_key_and_sees_answers_in_their_passages(browser, server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.get(server.url + "/")
    assert browser.title.startswith("Ask your documents")
    assert browser.switch_to.active_element.get_attribute("id") == "question"  # focused, ready to type

    _ask(browser, "Who designed the glass pyramid of the Louvre?")
    prompt = _wait(browser, lambda d: d.find_element(By.ID, "key-form").is_displayed()
                   and d.find_element(By.ID, "key-form"))
    assert "needs an API key" in prompt.text
    assert browser.switch_to.active_element.get_attribute("id") == "api-key"  # keyboard goes straight to it
    _shot(browser, "key-prompt", tmp_path)
    browser.switch_to.active_element.send_keys("wrong-key", Keys.ENTER)
    _wait(browser, lambda d: "not accepted" in d.find_element(By.ID, "key-message").text)
    browser.find_element(By.ID, "api-key").send_keys(KEY, Keys.ENTER)
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#results .answer"))
    assert not browser.find_element(By.ID, "key-form").is_displayed()

    cards = browser.find_elements(By.CSS_SELECTOR, "#results .answer")
    best = cards[0]
    assert "I. M. Pei" in best.find_element(By.TAG_NAME, "mark").text
    passage = best.find_element(By.CSS_SELECTOR, ".passage").text
    assert "I. M. Pei" in passage and len(passage) > 40  # the answer inside its passage
    assert "louvre.md" in best.find_element(By.CSS_SELECTOR, ".source").text
    source = best.find_element(By.CSS_SELECTOR, ".source")
    assert "retriever rank 1" in source.text and "/louvre.md (The Louvre)" in source.get_attribute("title")
    bar = best.find_element(By.CSS_SELECTOR, "[role=meter]")
    assert 0 < int(bar.get_attribute("aria-valuenow")) <= 100
    assert "chance right" in best.text
    _shot(browser, "answers", tmp_path)


def test_hostile_document_text_is_shown_never_run(browser, server, tmp_path):
    from selenium.webdriver.common.by import By

    cards = _answers_for(browser, "Who built the Hostile Tower?")
    assert cards
    hostile = next(c for c in cards if "hostile.txt" in c.find_element(By.CSS_SELECTOR, ".source").text)
    text = hostile.find_element(By.CSS_SELECTOR, ".passage").text
    assert "<script>" in text and "onerror" in text  # shown as text
    assert browser.execute_script("return window.__pwned === undefined")
    assert browser.title.startswith("Ask your documents")
    assert not browser.find_elements(By.CSS_SELECTOR, "#results img, #results script")
    _shot(browser, "hostile", tmp_path)


def test_a_file_name_that_is_not_utf8_is_shown_with_replacement_characters(browser, server):
    from selenium.webdriver.common.by import By

    cards = _answers_for(browser, "Where is the coffee of the Blue Lagoon cafe grown?")
    sources = [c.find_element(By.CSS_SELECTOR, ".source").text for c in cards]
    assert any("caf\ufffd-notes.txt" in s for s in sources), sources


def test_a_question_the_documents_cannot_answer_says_not_found(browser, server, tmp_path):
    from selenium.webdriver.common.by import By

    cards = _answers_for(browser, "zyxwv qqqq?")
    assert not cards
    box = browser.find_element(By.CSS_SELECTOR, ".not-found")
    assert "Not found in your documents" in box.text
    _shot(browser, "not-found", tmp_path)


def test_the_api_docs_render_offline(browser, server, tmp_path):
    from selenium.webdriver.common.by import By

    browser.get(server.url + "/docs")
    title = _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".swagger-ui .info .title"))[0]
    assert "spanbert-qa" in title.text
    _wait(browser, lambda d: "/spanbert_qa/run" in d.find_element(By.CSS_SELECTOR, ".swagger-ui").text)
    assert browser.find_elements(By.CSS_SELECTOR, ".swagger-ui .btn.authorize")  # the key can be entered here
    resources = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert resources and all(r.startswith(server.url) for r in resources), resources
    _shot(browser, "docs", tmp_path)
