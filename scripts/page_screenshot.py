"""Screenshot of the question page for the README: serve the example corpus with the demo reader, ask the README's
question in headless Chromium (Debian's chromium + chromium-driver), save a PNG.

    python scripts/page_screenshot.py docs/question-page.png
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def main(argv: list[str]) -> int:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait
    from serve_process import ServeProcess

    from spanbert_reader.app.settings import demo_model_path

    target = Path(argv[0] if argv else ROOT / "docs" / "question-page.png")
    with tempfile.TemporaryDirectory() as tmp, \
            ServeProcess(ROOT / "examples" / "corpus", Path(tmp) / "data", demo_model_path()) as server:
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                         "--disable-component-update", "--no-first-run", "--window-size=1000,820",
                         f"--user-data-dir={tmp}/profile"):
            options.add_argument(argument)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        try:
            driver.get(server.url + "/")
            driver.find_element(By.ID, "question").send_keys("Who designed the glass pyramid of the Louvre?",
                                                             Keys.ENTER)
            WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#results .answer"))
            target.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(target))
        finally:
            driver.quit()
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
