/* The generated tables of the site (the model zoo, the family pages): a filter box above each
   table keeps the rows that contain every word typed, and a click on a column header (or Enter on
   it) sorts the rows by that column, numbers as numbers, "-" (not published) always last. */
(function () {
  "use strict";

  var TABLES = ".zoo-table table, .family-table table, .untrained-table table";
  var SCALE = { "": 1, K: 1e3, M: 1e6, G: 1e9, T: 1e12 };

  /* Whether a row (its cells' texts) holds every word of the query, case-insensitively. */
  function rowMatches(texts, query) {
    var hay = texts.join(" ").toLowerCase();
    return String(query || "").toLowerCase().split(/\s+/).filter(Boolean).every(function (w) {
      return hay.indexOf(w) >= 0;
    });
  }

  /* What a cell sorts by: a number ("0.943", "25.08M", "4.07G"), else its text; null when empty or "-". */
  function sortKey(text) {
    var t = String(text).trim();
    if (t === "" || t === "-") return null;
    var m = /^(-?\d+(?:\.\d+)?)\s*([KMGT]?)$/i.exec(t);
    if (m) return parseFloat(m[1]) * SCALE[m[2].toUpperCase()];
    return t.toLowerCase();
  }

  /* Row indices in the order of column `col`, descending when asked; ties keep their order. */
  function sortOrder(rows, col, descending) {
    var keyed = rows.map(function (texts, i) { return { i: i, k: sortKey(texts[col]) }; });
    keyed.sort(function (a, b) {
      if (a.k === null || b.k === null) return (a.k === null) - (b.k === null) || a.i - b.i;
      var numbers = typeof a.k === "number" && typeof b.k === "number";
      var c = numbers ? a.k - b.k : String(a.k).localeCompare(String(b.k), undefined, { numeric: true });
      return (descending ? -c : c) || a.i - b.i;
    });
    return keyed.map(function (x) { return x.i; });
  }

  function enhance(table) {
    if (table.getAttribute("data-reid-table") || !table.tHead || !table.tBodies.length) return;
    table.setAttribute("data-reid-table", "1");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var texts = rows.map(function (r) {
      return Array.prototype.map.call(r.cells, function (c) { return c.textContent; });
    });
    var box = document.createElement("input");
    box.type = "search";
    box.className = "reid-table-filter";
    box.placeholder = "Filter rows, e.g. market1501 resnet50";
    box.setAttribute("aria-label", "Filter the rows of the table below");
    var count = document.createElement("span");
    count.className = "reid-table-count";
    var tools = document.createElement("div");
    tools.className = "reid-table-tools";
    tools.appendChild(box);
    tools.appendChild(count);
    var holder = table.closest(".zoo-table, .family-table, .untrained-table") || table.parentNode;
    holder.insertBefore(tools, holder.firstChild);

    function filter() {
      var shown = 0;
      rows.forEach(function (r, i) {
        var keep = rowMatches(texts[i], box.value);
        r.hidden = !keep;
        if (keep) shown += 1;
      });
      count.textContent = shown + " of " + rows.length + " rows";
    }
    box.addEventListener("input", filter);

    var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
    headers.forEach(function (th, col) {
      th.setAttribute("aria-sort", "none");
      th.classList.add("reid-sortable");
      th.tabIndex = 0;
      th.title = "Sort by " + th.textContent.trim();
      function sort() {
        var descending = th.getAttribute("aria-sort") === "ascending";
        headers.forEach(function (h) { h.setAttribute("aria-sort", "none"); });
        th.setAttribute("aria-sort", descending ? "descending" : "ascending");
        sortOrder(texts, col, descending).forEach(function (i) { body.appendChild(rows[i]); });
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          sort();
        }
      });
    });
    filter();
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll(TABLES), enhance);
  }

  if (typeof module !== "undefined" && module.exports) {
    module.exports = { rowMatches: rowMatches, sortKey: sortKey, sortOrder: sortOrder, enhance: enhance };
  }
  if (typeof document === "undefined") return;
  if (typeof window.document$ !== "undefined") {
    window.document$.subscribe(init); // Material's page-load signal (also after instant navigation)
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
