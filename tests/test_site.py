"""The course website: built from the stored notebooks, opened in headless Chromium with every
request to another host refused (an offline reader), each notebook page checked for console
errors, images that do not load and maths that is not typeset. A failing page leaves a
screenshot in the test's temporary directory."""

import functools
import http.server
import os
import shutil
import socket
import threading
from pathlib import Path

import nbformat
import pytest

from vae_tf import course
ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = course.course_notebooks(ROOT)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHROMEDRIVER = shutil.which("chromedriver")
NO_BROWSER = (
    "no Chromium/chromedriver: install them (Debian: apt-get install chromium chromium-driver); "
    ".ci/run does so and sets VAE_TF_NO_BROWSER=1 only where no package manager exists"
)

PAGE_STATE = """
const done = arguments[arguments.length - 1];
const report = () => {
  const md = [...document.querySelectorAll('.jp-RenderedMarkdown, .jp-MarkdownOutput, article .md-typeset > p')];
  const doc = window.MathJax && MathJax.startup && MathJax.startup.document;
  done({
    images: [...document.images].map(i => [i.currentSrc.slice(0, 60), i.complete, i.naturalWidth]),
    typeset: document.querySelectorAll('mjx-container').length,
    jax: doc ? Array.from(doc.math).length : -1,
    errors: document.querySelectorAll('mjx-merror').length,
    raw_tex: md.map(e => e.innerText).join('\\n').match(/\\$[^$\\n]*\\\\[a-zA-Z]+[^$\\n]*\\$/g) || [],
    markdown_cells: document.querySelectorAll('.jp-MarkdownCell').length,
  });
};
const start = Date.now();
const wait = () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { MathJax.startup.promise.then(report, report); }
  else if (Date.now() - start > 10000) { report(); }  // no MathJax on the page: report what there is
  else { setTimeout(wait, 100); }
};
wait();
"""


def _closed_port() -> socket.socket:
    """A bound, non-listening socket: connections to its port are refused (the 'proxy' that
    makes Chromium offline). Keep the socket open while the browser runs."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    return course.build_site(tmp_path_factory.mktemp("site") / "site", ROOT)


@pytest.fixture(scope="module")
def server(site):
    handler = functools.partial(QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture(scope="module")
def browser():
    if os.environ.get("VAE_TF_NO_BROWSER") == "1":
        pytest.skip("VAE_TF_NO_BROWSER=1: " + NO_BROWSER)
    assert CHROMIUM and CHROMEDRIVER, NO_BROWSER
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    offline = _closed_port()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,1600",
                f"--proxy-server=http://127.0.0.1:{offline.getsockname()[1]}"):  # loopback bypasses it
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_script_timeout(60)
    driver.set_page_load_timeout(120)
    yield driver
    driver.quit()
    offline.close()


def open_page(driver, url: str) -> dict:
    """Load ``url``, wait for MathJax to finish, return the page state and its console errors."""
    driver.get_log("browser")  # drop what earlier pages logged
    driver.get(url)
    state = driver.execute_async_script(PAGE_STATE)
    state["console_errors"] = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    return state


def page_problems(state: dict, has_maths: bool) -> list[str]:
    """What is wrong with a page state from :func:`open_page` (empty list: nothing)."""
    problems = [f"console error: {m}" for m in state["console_errors"]]
    problems += [f"image not loaded: {src}" for src, complete, width in state["images"] if not (complete and width > 0)]
    if has_maths and (state["jax"] <= 0 or state["typeset"] < state["jax"]):
        problems.append(f"maths not typeset: {state['typeset']} rendered of {state['jax']} formulas")
    if state["errors"]:
        problems.append(f"{state['errors']} MathJax errors")
    problems += [f"raw TeX left in the text: {tex}" for tex in state["raw_tex"][:5]]
    return problems


def _has_maths(path: Path) -> bool:
    nb = nbformat.read(path, as_version=4)
    return any("$" in cell.source for cell in nb.cells if cell.cell_type == "markdown")


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_page_loads_offline_with_images_and_maths(notebook, site, server, browser, tmp_path):
    page = f"notebooks/{notebook.stem}/"
    assert (site / page / "index.html").is_file(), f"the site has no page for {notebook.name}"
    state = open_page(browser, f"{server}/{page}")
    problems = page_problems(state, _has_maths(notebook))
    assert len(state["images"]) > 1, "no figures on the page"  # the badge plus the stored figures
    assert state["markdown_cells"] > 0, "the notebook's markdown was not rendered"
    if problems:
        shot = tmp_path / f"{notebook.stem}.png"
        browser.save_screenshot(str(shot))
        pytest.fail(f"{page}: " + "; ".join(problems) + f" (screenshot: {shot})")
