// The web pages' script: plots (uPlot), live statuses, search, sortable tables and cancel
// buttons. Loaded from /ui/static (no inline script); it writes text only, never HTML.
"use strict";

(function () {
  const TERMINAL = ["completed", "failed", "canceled", "cancelled"];
  const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  function blockData(id) {
    const block = document.getElementById(id);
    return block ? JSON.parse(block.textContent) : {};
  }

  // Tick labels that keep very small and very large values readable (e.g. 6e-5 m).
  function tickLabels(u, values) {
    return values.map((v) => {
      if (v === null || v === undefined) return "";
      const size = Math.abs(v);
      if (size !== 0 && (size < 1e-3 || size >= 1e6)) return v.toExponential(2);
      return String(Number(v.toPrecision(6)));
    });
  }

  function drawPlot(div) {
    const data = blockData(div.dataset.source);
    const xs = data[div.dataset.x] || [];
    const ys = data[div.dataset.y] || [];
    const ys2 = div.dataset.y2 ? data[div.dataset.y2] || [] : null;
    const scatter = !!div.closest(".scatters");
    let rows = xs.map((x, i) => [x, ys[i], ys2 ? ys2[i] : null]).filter((r) => r[0] !== null);
    if (scatter) rows.sort((a, b) => a[0] - b[0]);
    const x = rows.map((r) => r[0]);
    const columns = [x, rows.map((r) => r[1])];
    const opts = {
      width: Math.max(280, div.clientWidth || 420),
      height: scatter ? 220 : 260,
      legend: { show: !!ys2 },
      cursor: { drag: { x: true, y: false } },
      scales: { x: { time: false } },
      axes: [
        { label: div.dataset.x, values: tickLabels },
        { label: div.dataset.y, size: 70, values: tickLabels },
      ],
      series: [
        {},
        {
          label: div.dataset.y,
          stroke: "#1f6feb",
          width: scatter ? 0 : 1.5,
          paths: scatter ? () => null : undefined,
          points: { show: scatter, size: 7, fill: "#1f6feb" },
        },
      ],
    };
    if (ys2) {
      columns.push(rows.map((r) => r[2]));
      opts.series.push({ label: div.dataset.y2, stroke: "#d9480f", width: 1.5, dash: [6, 4] });
    }
    if (typeof uPlot === "function") {
      new uPlot(opts, columns, div);
      div.dataset.drawn = String(x.length);
    }
  }

  function setStatus(row, status) {
    const cell = row.querySelector(".status");
    if (!cell || cell.dataset.status === status) return;
    cell.dataset.status = status;
    cell.className = "status status-" + status;
    cell.textContent = status;
    if (TERMINAL.includes(status)) {
      const form = row.querySelector("form.cancel");
      if (form) form.remove();
    }
  }

  function itemsOf(body) {
    if (Array.isArray(body)) return body;
    return body.simulations || body.items || body.pipelines || [];
  }

  async function poll(table) {
    try {
      const response = await fetch("/ui/api" + table.dataset.poll, { credentials: "same-origin" });
      if (!response.ok) return;
      for (const item of itemsOf(await response.json())) {
        const row = table.querySelector('tr[data-id="' + CSS.escape(String(item.id)) + '"]');
        if (row) setStatus(row, String(item.status));
      }
      table.dataset.polled = String(Number(table.dataset.polled || 0) + 1);
    } catch (err) {
      /* the next poll tries again */
    }
  }

  async function pollSummary(summary) {
    try {
      const response = await fetch("/ui/api" + summary.dataset.poll, { credentials: "same-origin" });
      if (!response.ok) return;
      const body = await response.json();
      if (TERMINAL.includes(body.status)) window.location.reload();
    } catch (err) {
      /* try again */
    }
  }

  function filterRows(input) {
    const wanted = input.value.trim().toLowerCase();
    for (const row of document.querySelectorAll("#simulations tbody tr")) {
      row.hidden = wanted !== "" && !(row.dataset.search || "").includes(wanted);
    }
  }

  function sortBy(table, column, th) {
    const body = table.tBodies[0];
    const ascending = th.dataset.order !== "asc";
    for (const other of table.querySelectorAll("th")) delete other.dataset.order;
    th.dataset.order = ascending ? "asc" : "desc";
    const key = (row) => {
      const text = row.cells[column] ? row.cells[column].textContent.trim() : "";
      const number = Number(text);
      return text !== "" && !Number.isNaN(number) ? number : text;
    };
    const rows = Array.from(body.rows);
    rows.sort((a, b) => {
      const ka = key(a), kb = key(b);
      const order = typeof ka === "number" && typeof kb === "number" ? ka - kb : String(ka).localeCompare(String(kb));
      return ascending ? order : -order;
    });
    for (const row of rows) body.appendChild(row);
  }

  async function cancel(form, event) {
    event.preventDefault();
    const button = form.querySelector("button");
    if (button) button.disabled = true;
    const response = await fetch(form.action, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf() },
    });
    const row = form.closest("tr");
    if (response.ok && row) setStatus(row, String((await response.json()).status));
    else if (button) button.disabled = false;
  }

  function start() {
    document.querySelectorAll(".plot").forEach(drawPlot);
    document.querySelectorAll("table.live[data-poll]").forEach((table) => {
      window.setInterval(() => poll(table), 1500);
    });
    const summary = document.querySelector("#summary[data-poll]");
    if (summary) window.setInterval(() => pollSummary(summary), 2000);
    const filter = document.getElementById("filter");
    if (filter) filter.addEventListener("input", () => filterRows(filter));
    document.querySelectorAll("table.sortable").forEach((table) => {
      table.querySelectorAll("th").forEach((th, column) => {
        th.addEventListener("click", () => sortBy(table, column, th));
      });
    });
    document.querySelectorAll("form.cancel").forEach((form) => {
      form.addEventListener("submit", (event) => cancel(form, event));
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
