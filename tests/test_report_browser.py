"""Reports as a person sees them: rendered in headless Chromium (Debian package).

Asserts no console errors and no network requests, every figure visible and not blank,
table-of-contents links resolving, user strings escaped; saves screenshots under
tests/output/.
"""

import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from spinefit.report.html import write_report
from spinefit.results import load_result

OUTPUT = Path(__file__).resolve().parent / "output"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HOSTILE = "<script>alert(1)</script>"
HOSTILE_FILE = '<img src=x onerror="alert(1)">'  # no "/": it is a file name


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed in CI (scripts/ensure_chromium.sh)")
        pytest.skip("chromium not installed (sudo apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


def open_report(browser, path: Path, width: int = 1280):
    page = browser.new_page(viewport={"width": width, "height": 900})
    events = {"console_errors": [], "requests": [], "dialogs": [], "page_errors": []}
    page.on("console", lambda m: m.type == "error" and events["console_errors"].append(m.text))
    page.on("pageerror", lambda e: events["page_errors"].append(str(e)))
    page.on("request", lambda r: events["requests"].append(r.url))
    page.on("dialog", lambda d: (events["dialogs"].append(d.message), d.dismiss()))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page, events


def is_blank(png: bytes) -> bool:
    import matplotlib.image as mpimg

    pixels = mpimg.imread(io.BytesIO(png), format="png")
    return float(np.asarray(pixels)[..., :3].std()) < 1e-3


@pytest.fixture(scope="module")
def report_path(small_fit_path):
    from spinefit.check.ppc import stationary_check

    tree = load_result(small_fit_path)
    tree.attrs["input_source"] = f"spines_{HOSTILE_FILE}.csv"
    # The posterior predictive check, as `spinefit check` stores it, so its figures are shown.
    tree["ppc"] = xr.DataTree(dataset=stationary_check(tree, draws=60, random_seed=1))
    OUTPUT.mkdir(exist_ok=True)
    path = write_report([tree], OUTPUT / "browser_report.html", title=f"Report {HOSTILE}")
    assert "Distance and bimodality statistics" in path.read_text()
    return path


def test_loads_without_errors_or_network(browser, report_path):
    page, events = open_report(browser, report_path)
    assert events["console_errors"] == [] and events["page_errors"] == []
    assert events["requests"] == [report_path.as_uri()], "the page must request nothing else"
    assert events["dialogs"] == [], "a user string was executed as script"
    page.screenshot(path=str(OUTPUT / "report_top.png"))
    page.screenshot(path=str(OUTPUT / "report_full.png"), full_page=True)
    page.close()


def test_user_strings_are_shown_as_text(browser, report_path):
    page, _ = open_report(browser, report_path)
    assert HOSTILE in page.inner_text("h1")
    assert HOSTILE_FILE in page.inner_text(".subtitle")
    assert page.locator("script").count() == 0
    assert page.locator("main img").count() == 0
    page.close()


def test_every_figure_is_visible_and_not_blank(browser, report_path):
    page, _ = open_report(browser, report_path)
    figures = page.locator("figure.plot svg, .equation svg")
    assert figures.count() >= 4
    for i in range(figures.count()):
        figure = figures.nth(i)
        figure.scroll_into_view_if_needed()
        box = figure.bounding_box()
        assert box is not None and box["width"] > 50 and box["height"] > 20, f"figure {i}"
        assert not is_blank(figure.screenshot()), f"figure {i} is blank"
    page.close()


def test_figures_fit_a_laptop_width(browser, report_path):
    page, _ = open_report(browser, report_path, width=1024)
    overflow = page.evaluate(
        "() => [...document.querySelectorAll('figure.plot svg')]"
        ".filter(s => s.getBoundingClientRect().right > window.innerWidth).length"
    )
    assert overflow == 0
    page.close()


def test_table_of_contents_links_resolve(browser, report_path):
    page, _ = open_report(browser, report_path)
    missing = page.evaluate(
        "() => [...document.querySelectorAll('nav.toc a')]"
        ".map(a => a.getAttribute('href').slice(1))"
        ".filter(id => !document.getElementById(id))"
    )
    links = page.locator("nav.toc a").count()
    assert links >= 5 and missing == []
    page.close()


def test_several_results_in_one_page_keep_unique_anchors(browser, small_fit_path, tmp_path):
    tree = load_result(small_fit_path)
    path = write_report([tree, tree], OUTPUT / "two_results.html")
    page, events = open_report(browser, path)
    assert events["console_errors"] == []
    ids = page.evaluate("() => [...document.querySelectorAll('[id]')].map(e => e.id)")
    assert len(ids) == len(set(ids))
    assert page.locator("h4", has_text="Drift and diffusion").count() == 2
    page.screenshot(path=str(OUTPUT / "two_results.png"))
    page.close()


@pytest.fixture(scope="module")
def conditions_report_path():
    """A fit by condition whose second label is hostile markup."""
    from spinefit.io.two_photon import read_two_photon
    from spinefit.models.base import SamplerSettings
    from spinefit.models.drift_diffusion_conditions import ConditionalDriftDiffusion

    data = read_two_photon(Path(__file__).resolve().parents[1] / "data" / "wt_ko_timeseries.csv")
    data = data.isel(spine=slice(None, None, 3))
    labels = np.where(data["condition"].values == "KO", HOSTILE, "WT")
    data = data.assign_coords(condition=("spine", labels))
    # The moments likelihood keeps this report test quick; the latent one is tested on its own.
    tree = ConditionalDriftDiffusion({"loo": False, "likelihood": "moments"}).fit(
        data,
        SamplerSettings(
            draws=100, tune=150, chains=2, random_seed=2, progressbar=False, ess_target=0
        ),
    )
    OUTPUT.mkdir(exist_ok=True)
    return write_report([tree], OUTPUT / "conditions_report.html", title="Conditions")


def test_condition_contrast_report(browser, conditions_report_path):
    page, events = open_report(browser, conditions_report_path)
    assert events["console_errors"] == [] and events["page_errors"] == []
    assert events["dialogs"] == [] and page.locator("script").count() == 0
    assert events["requests"] == [conditions_report_path.as_uri()]
    for title in ("Drift and diffusion by condition", "Contrasts between conditions"):
        assert page.locator("h3", has_text=title).count() == 1, title
    assert HOSTILE in page.inner_text("main")  # the label, shown as text
    figures = page.locator("figure.plot svg")
    for i in range(figures.count()):
        figures.nth(i).scroll_into_view_if_needed()
        assert not is_blank(figures.nth(i).screenshot()), f"figure {i} is blank"
    missing = page.evaluate(
        "() => [...document.querySelectorAll('nav.toc a')]"
        ".map(a => a.getAttribute('href').slice(1))"
        ".filter(id => !document.getElementById(id))"
    )
    assert missing == []
    page.locator("h3", has_text="Contrasts between conditions").scroll_into_view_if_needed()
    page.screenshot(path=str(OUTPUT / "conditions_contrasts.png"))
    page.screenshot(path=str(OUTPUT / "conditions_full.png"), full_page=True)
    page.close()
