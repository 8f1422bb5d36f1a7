"""The course website: built from the stored notebooks, opened in headless Chromium with every
request to another host refused (an offline reader), each notebook page checked for console
errors, images that do not load and maths that is not typeset. A failing page leaves a
screenshot in the test's temporary directory. The site also works opened from disk (file://,
what ``course site`` tells the reader to do): every internal link is followed from index.html."""

import functools
import http.server
import os
import re
import shutil
import socket
import threading
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

import nbformat
import pytest

from vae_tf.course.project import course_notebooks
from vae_tf.course.student import answer_key
from vae_tf.course.website import build_site
ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = course_notebooks(ROOT)
STORED = {p: p.read_bytes() for p in NOTEBOOKS}  # read before the site is built

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
    return build_site(tmp_path_factory.mktemp("site") / "site", ROOT)


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
    page = f"notebooks/{notebook.stem}.html"
    assert (site / page).is_file(), f"the site has no page for {notebook.name}"
    state = open_page(browser, f"{server}/{page}")
    problems = page_problems(state, _has_maths(notebook))
    assert len(state["images"]) > 1, "no figures on the page"  # the badge plus the stored figures
    assert state["markdown_cells"] > 0, "the notebook's markdown was not rendered"
    if problems:
        shot = tmp_path / f"{notebook.stem}.png"
        browser.save_screenshot(str(shot))
        pytest.fail(f"{page}: " + "; ".join(problems) + f" (screenshot: {shot})")


PAGE_LINKS = """
return {
  article: document.querySelector('article.md-content__inner') !== null,
  title: document.title,
  links: [...document.querySelectorAll('a[href]')].map(a => a.href),
};
"""


def test_every_internal_link_works_opened_from_disk(site, browser, tmp_path):
    """Issue 24: folder URLs (notebooks/NAME/) showed Chromium's directory listing over file://.
    From file:///.../index.html, follow every link to a file of the site, page after page: each
    page must be a rendered page (not a listing or an error page) with its images loaded and
    no console error; other files linked (downloads) must exist."""
    start = (site / "index.html").as_uri()
    queue, seen, problems = [start], set(), []
    while queue:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        state = open_page(browser, url)
        page = browser.execute_script(PAGE_LINKS)
        name = url[len(site.as_uri()) + 1:]
        if not page["article"]:
            browser.save_screenshot(str(tmp_path / "broken.png"))
            problems.append(f"{name}: not a page of the site (title {page['title']!r})")
            continue
        problems += [f"{name}: {p}" for p in page_problems(state, has_maths=False)]
        for link in page["links"]:
            target = urldefrag(link).url
            if not target.startswith("file://"):
                continue
            path = Path(unquote(urlparse(target).path))
            assert path.is_relative_to(site), f"{name} links outside the site: {link}"
            if path.suffix == ".html" and path.is_file():
                queue.append(target)
            elif not path.is_file():
                problems.append(f"{name}: link to {path.relative_to(site)}, which is not a file (over file:// "
                                "a folder shows a directory listing)")
    visited = {u[len(site.as_uri()) + 1:] for u in seen}
    expected = {"index.html", "answers.html", "instructor.html", "publishing.html",
                *(f"notebooks/{p.stem}.html" for p in NOTEBOOKS)}
    assert not problems, "\n".join(sorted(set(problems)))
    assert expected <= visited, f"pages not reached from index.html: {sorted(expected - visited)}"


ANSWER_NUMBERS = """
const out = [];
for (const el of document.querySelector('article.md-content__inner').children) {
  if (el.tagName === 'H2') { out.push([el.textContent.replace(/\\s*\\u00b6$/, '').trim(), []]); }
  else if (el.tagName === 'OL' && out.length) {
    [...el.children].forEach((li, i) => out[out.length - 1][1].push(el.start + i));
  }
}
return out;
"""


def test_answer_key_numbers_the_exercises_as_the_notebooks_do(site, browser):
    """Issue 24: every exercise of the answer key showed "1." (each exercise is a list of its own,
    cut by the solution's code block, and Markdown ignored the start number). The numbers the
    browser shows, per notebook, are the ones the notebook's exercises carry."""
    browser.get((site / "answers.html").as_uri())
    shown = dict(browser.execute_script(ANSWER_NUMBERS))
    for section in answer_key(ROOT).split("\n## ")[1:]:
        title, _, body = section.partition("\n")
        body = re.sub(r"^```.*?^```", "", body, flags=re.S | re.M)  # code cells: no exercise numbers
        written = [int(n) for n in re.findall(r"^(\d+)\. ", body, re.M)]
        assert written == list(range(1, len(written) + 1)), f"{title}: the notebook numbers its exercises {written}"
        assert shown.get(title.strip()) == written, f"{title}: the answer key shows {shown.get(title.strip())}, the notebook has {written}"


TF_NOISE = ("absl::InitializeLog", "oneDNN custom operations", "failed call to cuInit", "cudart_stub.cc")


def test_notebook_pages_show_no_tensorflow_start_up_logging(site):
    """Issue 24: the first cells showed TensorFlow's start-up stderr (absl notice, oneDNN, cuInit)
    as a red block. The site's pages and its notebook downloads are free of it; the stored
    notebooks keep their outputs."""
    for notebook in NOTEBOOKS:
        for copy in (site / "notebooks" / f"{notebook.stem}.html", site / "notebooks" / notebook.name):
            text = copy.read_text(encoding="utf-8")
            assert not [m for m in TF_NOISE if m in text], f"{copy.name} shows TensorFlow's start-up logging"
    assert {p: p.read_bytes() for p in NOTEBOOKS} == STORED, "building the site changed a stored notebook"
