"""The MkDocs hook that generates the zoo tables, without building the site."""

import importlib.util
from pathlib import Path

import pytest

import reid_core

HOOK = Path(__file__).resolve().parents[2] / "docs" / "hooks" / "zoo.py"


@pytest.fixture(scope="module")
def zoo():
    spec = importlib.util.spec_from_file_location("docs_zoo_hook", HOOK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_weights_table_has_one_row_per_file(zoo):
    md = zoo.render("before\n<!-- reid-zoo:weights-table -->\nafter")
    lines = [l for l in md.splitlines() if l.startswith("| ") and not l.startswith("| ---")]
    files = sum(len(e["weights"]) for f in reid_core.list_families().values() for e in f.catalog.values())
    assert lines[0] == "| Dataset | Model | Top1 | Top5 | mAP | mINP | MACs | Params | Source | Licence |"
    assert len(lines) == 1 + files
    assert md.startswith("before\n") and md.endswith("\nafter")


def test_rows_are_grouped_by_dataset(zoo):
    datasets = [r["Dataset"] for r in zoo.weights_rows()]
    order = ["Market-1501", "DukeMTMC-reID", "MSMT17"]
    ranks = [order.index(d) for d in datasets if d in order]
    assert ranks == sorted(ranks)


def test_family_markers(zoo):
    families = reid_core.list_families()
    if not families:
        pytest.skip("no family installed")
    name, family = next(iter(sorted(families.items())))
    md = zoo.render(f"<!-- reid-zoo:family-models {name} -->")
    for model in family.models:
        assert f"`{model}`" in md
    assert "Not installed" in zoo.render("<!-- reid-zoo:family-models nosuchfamily -->")
    with pytest.raises(ValueError, match="unknown reid-zoo marker"):
        zoo.render("<!-- reid-zoo:bogus -->")


def test_every_row_names_its_licence(zoo):
    rows = zoo.weights_rows()
    assert rows and all(r["Licence"] for r in rows)
    by_model = {r["Model"]: r["Licence"] for r in rows}
    if "`vit_b16_clipreid`" in by_model:
        assert by_model["`vit_b16_clipreid`"] == "MIT"
