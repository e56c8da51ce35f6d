"""The documentation site: `mkdocs build --strict`, then the pages as a browser renders them.

The browser is Debian's headless Chromium. Where it is missing the browser tests are skipped,
except under CI (``CI`` set), where a missing browser is a failure.
"""

import html.parser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import reid_core

pytest.importorskip("mkdocs")
pytest.importorskip("material")
pytest.importorskip("mkdocstrings_handlers.python")

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
WEIGHTS_COLUMNS = ["Dataset", "Model", "Top1", "Top5", "mAP", "mINP", "MACs", "Params", "Source", "Licence"]


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    assert "WARNING" not in proc.stderr, proc.stderr
    return out


def chromium():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs Debian's chromium for the docs browser check: apt-get install -y chromium")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    return exe


def rendered_dom(page: Path, tmp_path: Path) -> str:
    """The DOM of ``page`` after Chromium has loaded it and run its scripts."""
    profile = tmp_path / f"chromium-profile-{page.parent.name}"
    proc = subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


class Tables(html.parser.HTMLParser):
    """Collects the tables inside ``<div class="NAME">``: header cells and body rows (cell texts)."""

    def __init__(self, css: str) -> None:
        super().__init__()
        self.css, self.depth, self.in_div = css, 0, False
        self.headers: list[str] = []
        self.rows: list[list[str]] = []
        self._section = self._cell = None
        self._row: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        classes = (dict(attrs).get("class") or "").split()
        if tag == "div":
            if self.in_div:
                self.depth += 1
            elif self.css in classes:
                self.in_div, self.depth = True, 0
        if not self.in_div:
            return
        if tag in ("thead", "tbody"):
            self._section = tag
        elif tag == "tr" and self._section == "tbody":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = ""

    def handle_endtag(self, tag):
        if not self.in_div:
            return
        if tag == "div":
            if self.depth == 0:
                self.in_div = False
            else:
                self.depth -= 1
        elif tag in ("td", "th") and self._cell is not None:
            if self._section == "thead":
                self.headers.append(self._cell.strip())
            elif self._row is not None:
                self._row.append(self._cell.strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def catalogued_files():
    """(dataset, model, source) of every weights record of the installed catalogs."""
    out = []
    for family in reid_core.list_families().values():
        for model, entry in family.catalog.items():
            out.extend((w.dataset, model, w.source) for w in entry["weights"])
    return out


@pytest.mark.slow
def test_zoo_table_renders_every_catalogued_file(site, tmp_path):
    dom = rendered_dom(site / "zoo" / "index.html", tmp_path)
    tables = Tables("zoo-table")
    tables.feed(dom)
    assert tables.headers == WEIGHTS_COLUMNS
    expected = catalogued_files()
    assert len(expected) > 0 and len(tables.rows) == len(expected)
    assert all(len(row) == len(WEIGHTS_COLUMNS) for row in tables.rows)
    assert sorted(r[1] for r in tables.rows) == sorted(m for _, m, _ in expected)
    # one row checked against the catalog it comes from
    if "bot" in reid_core.list_families():
        w = reid_core.model_info("resnet50_bot").weights["market1501"]
        row = next(r for r in tables.rows if r[0] == "Market-1501" and r[1] == "resnet50_bot" and r[8] == "seed")
        assert row[2:6] == [f"{w.metrics[k]:.3f}" for k in ("top1", "top5", "mAP", "mINP")]
        assert row[6:8] == [reid_core.model_info("resnet50_bot").published[k] for k in ("macs", "params")]


@pytest.mark.slow
def test_index_page_renders(site, tmp_path):
    dom = rendered_dom(site / "index.html", tmp_path)
    assert "<h1" in dom and "reid-zoo" in dom
    models = sum(len(f.models) for f in reid_core.list_families().values())
    assert f"{len(reid_core.list_families())} families installed, {models} models" in dom
    # the theme's scripts ran: Material wraps tables for scrolling
    assert "md-typeset__scrollwrap" in dom


@pytest.mark.slow
def test_every_family_has_its_pages(site):
    for name in reid_core.list_families():
        page = (site / "families" / name / "index.html").read_text()
        assert 'class="family-table"' in page
        for model in reid_core.list_families()[name].models:
            assert model in page
        module = name.replace("-", "_")  # family transreid-ssl lives in reid_transreid_ssl
        assert (site / "api" / f"reid_{module}" / "index.html").is_file()


@pytest.mark.slow
def test_visualization_pictures_are_published(site):
    page = (site / "visualization" / "index.html").read_text()
    for name in ("ranklist_000.png", "gradcam_000.png", "tsne.png"):
        assert f"assets/viz/{name}" in page
        assert (site / "assets" / "viz" / name).stat().st_size > 10_000


@pytest.mark.slow
def test_zoo_table_gets_a_filter_box_and_sortable_headers(site, tmp_path):
    page = site / "zoo" / "index.html"
    assert "javascripts/tables.js" in page.read_text()
    dom = rendered_dom(page, tmp_path)
    assert 'class="reid-table-filter"' in dom
    tables = Tables("zoo-table")
    tables.feed(dom)
    assert len(tables.rows) == len(catalogued_files())  # all rows shown until something is typed
    assert dom.count('aria-sort="none"') >= len(WEIGHTS_COLUMNS)
