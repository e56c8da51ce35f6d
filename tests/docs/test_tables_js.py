"""docs/javascripts/tables.js, the filter and sort of the generated tables, run under Node.js on a
small stand-in for the browser's DOM (the site's browser check runs it in Chromium)."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "docs" / "javascripts" / "tables.js"

DOM = r"""
function el(tag) {
  return {
    tag: tag, attrs: {}, children: [], listeners: {}, classes: [], hidden: false, textContent: "", value: "",
    setAttribute(k, v) { this.attrs[k] = String(v); }, getAttribute(k) { return k in this.attrs ? this.attrs[k] : null; },
    appendChild(c) { this.children.push(c); return c; },
    insertBefore(c, ref) { this.children.unshift(c); return c; },
    addEventListener(type, fn) { this.listeners[type] = fn; },
    get classList() { const self = this; return { add(c) { self.classes.push(c); } }; },
  };
}
function table(header, rows) {
  const holder = el("div");
  const t = el("table");
  const body = el("tbody");
  body.rows = rows.map(texts => Object.assign(el("tr"), { cells: texts.map(x => Object.assign(el("td"), { textContent: x })) }));
  body.appendChild = function (r) { this.rows.splice(this.rows.indexOf(r), 1); this.rows.push(r); return r; };
  t.tHead = { rows: [{ cells: header.map(x => Object.assign(el("th"), { textContent: x })) }] };
  t.tBodies = [body];
  t.closest = () => holder;
  holder.appendChild(t);
  return { holder, t, body };
}
global.document = { createElement: el };
"""


def run_node(code: str) -> object:
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.skip("Node.js is not installed")
    program = f"const T = require({json.dumps(str(SCRIPT))});\n{DOM}\n{code}"
    proc = subprocess.run([node, "-e", program], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_sort_keys_read_numbers_with_units_and_put_missing_last():
    out = run_node("""
      const rows = [["a", "25.08M"], ["b", "-"], ["c", "4.07G"], ["d", "980K"], ["e", "25.1M"]];
      console.log(JSON.stringify([T.sortOrder(rows, 1, false), T.sortOrder(rows, 1, true), T.sortKey(" - ")]));
    """)
    assert out == [[3, 0, 4, 2, 1], [2, 4, 0, 3, 1], None]


def test_filter_box_and_header_sort_on_a_table():
    out = run_node("""
      const { holder, t, body } = table(["Dataset", "Model", "mAP"], [
        ["Market-1501", "resnet50_bot", "0.858"], ["MSMT17", "resnet50_bot", "0.472"],
        ["Market-1501", "osnet_x1_0_dpr", "-"], ["Market-1501", "vit_base_transreid", "0.889"]]);
      T.enhance(t);
      const [tools] = holder.children;
      const [box, count] = tools.children;
      const seen = {};
      box.value = "market bot";
      box.listeners.input();
      seen.hidden = body.rows.map(r => r.hidden);
      seen.count = count.textContent;
      const mAP = t.tHead.rows[0].cells[2];
      mAP.listeners.click();
      seen.ascending = body.rows.map(r => r.cells[1].textContent);
      mAP.listeners.click();
      seen.descending = body.rows.map(r => r.cells[1].textContent);
      seen.sort = mAP.getAttribute("aria-sort");
      T.enhance(t);  // a second pass (instant navigation) adds nothing
      seen.tools = holder.children.length;
      console.log(JSON.stringify(seen));
    """)
    assert out["hidden"] == [False, True, True, True]
    assert out["count"] == "1 of 4 rows"
    assert out["ascending"] == ["resnet50_bot", "resnet50_bot", "vit_base_transreid", "osnet_x1_0_dpr"]
    assert out["descending"] == ["vit_base_transreid", "resnet50_bot", "resnet50_bot", "osnet_x1_0_dpr"]
    assert out["sort"] == "descending"
    assert out["tools"] == 2  # the tools bar and the table


def test_the_site_loads_the_script():
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    # mkdocs.yml may hold !!python tags (Material's emoji); only extra_javascript matters here
    Loader.add_multi_constructor("", lambda loader, suffix, node: None)
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=Loader)
    assert "javascripts/tables.js" in config.get("extra_javascript", [])
