#!/usr/bin/env python3
"""Takes the README's screenshots of a real call: a demo server, a doctor who signs in and a
patient who enters with the TAN, each in headless Chromium with Chromium's fake camera. The
doctor's page is a desktop window, the patient's a phone (390 x 844, as Chromium emulates one).

    .build/e2e-venv/bin/python scripts/screenshot.py [OUTPUT.png]   (default docs/images/call.png)

The patient's phone goes beside it, as OUTPUT-phone.png (docs/images/call-phone.png).

Needs a built binary (`swift build`, or SPRECHSTUNDE_BIN) and chromium + chromium-driver.
"""

from __future__ import annotations

import configparser
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

REPO = Path(__file__).resolve().parents[1]
BINARY = os.environ.get("SPRECHSTUNDE_BIN", str(REPO / ".build" / "debug" / "sprechstunde"))


def browser(language: str, phone: bool = False) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/lib/chromium/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--use-fake-device-for-media-stream",
                 "--use-fake-ui-for-media-stream", "--allow-loopback-in-peer-connection",
                 "--ignore-certificate-errors", "--autoplay-policy=no-user-gesture-required",
                 "--window-size=1280,800", f"--lang={language}", "--hide-scrollbars"):
        options.add_argument(flag)
    # Headless Chromium takes the page language from this preference, not from --lang.
    options.add_experimental_option("prefs", {"intl.accept_languages": language})
    if phone:
        options.add_experimental_option("mobileEmulation", {
            "deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 1, "touch": True},
            "userAgent": "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) "
                         "Chrome/120.0 Mobile Safari/537.36"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    if phone:
        # Phone browsers cannot share the screen; the page hides the button where that is so.
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {
            "source": "try { delete MediaDevices.prototype.getDisplayMedia; } catch (e) {}"})
    return driver


def wait(what: str, probe, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.3)
    raise SystemExit(f"screenshot: gave up waiting for {what}")


def main() -> None:
    output = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "images" / "call.png"
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as directory:
        server = subprocess.Popen([BINARY, "demo", "--port", "0", "--data-dir", f"{directory}/data",
                                   "--access-log", "off"], stdout=subprocess.PIPE, text=True)
        drivers: list[webdriver.Chrome] = []
        try:
            base = wait("the server", lambda: (m := re.search(r"listening on (\S+)", server.stdout.readline()))
                        and m.group(1))
            config = configparser.ConfigParser()
            config.read(f"{directory}/data/config.ini")
            ca = config["server"]["ca_bundle"]
            email, password = config["credentials"]["email"], config["credentials"]["password"]
            token = requests.post(f"{base}/api/v2/auth", json={"email": email, "password": password},
                                  verify=ca).json()["access_token"]
            call = requests.post(f"{base}/api/v2/calls", json={
                "duration": 20, "call_type": "tan", "tan_username": "Erika Mustermann",
                "description": "Befundbesprechung"}, headers={"Authorization": f"Bearer {token}"},
                verify=ca).json()["data"]
            tan = next(user["tan"] for user in call["users"] if user["role_name"] == "tanuser")

            doctor, patient = browser("en"), browser("en", phone=True)
            drivers += [doctor, patient]
            doctor.get(f"{base}/video/{call['id']}")
            wait("the sign-in form", lambda: doctor.find_elements(By.ID, "signin-email"))
            doctor.find_element(By.ID, "signin-email").send_keys(email)
            doctor.find_element(By.ID, "signin-password").send_keys(password)
            doctor.find_element(By.ID, "signin-submit").click()
            patient.get(f"{base}/video/{call['id']}?tan={tan}")
            stats = "return window.sprechstunde ? window.sprechstunde.mediaStats() : []"
            for page in (doctor, patient):
                wait("media on both sides", lambda page=page: any(
                    s.get("framesDecoded", 0) > 30 for s in page.execute_script(stats)))
            time.sleep(2)  # the quality indicator settles
            doctor.save_screenshot(str(output))
            phone = output.with_name(f"{output.stem}-phone{output.suffix}")
            patient.save_screenshot(str(phone))
            print(f"screenshots: {output}, {phone}")
        finally:
            for driver in drivers:
                driver.quit()
            server.terminate()
            server.wait(20)


if __name__ == "__main__":
    main()
