// lmops UI: run selection for comparing, and metric charts drawn from the history API.
"use strict";

const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777",
  "#65a30d", "#ea580c", "#4f46e5", "#0d9488", "#be123c"];

function color(index) {
  return PALETTE[index % PALETTE.length];
}

// -- the runs table: select runs, then compare them -------------------------------------

function setUpCompare() {
  const form = document.getElementById("compare-form");
  if (!form) return;
  const button = document.getElementById("compare-button");
  const count = document.getElementById("selected-count");
  const all = document.getElementById("select-all");
  const boxes = () => Array.from(form.querySelectorAll("input[name=run]"));
  const update = () => {
    const n = boxes().filter((b) => b.checked).length;
    button.disabled = n < 2;
    count.textContent = n === 0 ? "select 2 or more runs to compare" : `${n} selected`;
    if (all) all.checked = n > 0 && n === boxes().length;
  };
  form.addEventListener("change", (event) => {
    if (event.target === all) boxes().forEach((b) => { b.checked = all.checked; });
    update();
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const ids = boxes().filter((b) => b.checked).map((b) => b.value);
    if (ids.length >= 2) window.location.href = `/compare?runs=${ids.map(encodeURIComponent).join(",")}`;
  });
  update();
}

// -- charts -----------------------------------------------------------------------------

async function fetchHistory(runId, key, maxPoints) {
  const url = `/api/v1/runs/${encodeURIComponent(runId)}/metrics/history` +
    `?key=${encodeURIComponent(key)}&max_points=${maxPoints}`;
  const response = await fetch(url, { headers: { accept: "application/json" } });
  const body = await response.json();
  if (!response.ok) throw new Error(body.message || `HTTP ${response.status}`);
  // NaN and the infinities arrive as strings ("NaN", "Infinity"): plot them as gaps.
  return {
    x: body.map((p) => p.step),
    y: body.map((p) => (typeof p.value === "number" ? p.value : null)),
  };
}

async function drawChart(el) {
  const key = el.dataset.key;
  const maxPoints = Number(el.dataset.maxPoints) || 1500;
  const series = JSON.parse(el.dataset.series);
  try {
    const histories = await Promise.all(series.map((s) => fetchHistory(s.run, key, maxPoints)));
    const traces = series.map((s, i) => ({
      type: "scatter",
      mode: histories[i].x.length === 1 ? "markers" : "lines",
      name: s.name,
      x: histories[i].x,
      y: histories[i].y,
      line: { color: color(s.index), width: 1.6 },
      marker: { color: color(s.index) },
    }));
    el.textContent = "";
    window.Plotly.newPlot(el, traces, {
      title: { text: key, font: { size: 14 }, x: 0.02, xanchor: "left", y: 0.98, yanchor: "top" },
      margin: { l: 56, r: 16, t: series.length > 1 ? 64 : 40, b: 44 },
      height: 300,
      xaxis: { title: { text: "step" }, zeroline: false },
      yaxis: { zeroline: false, automargin: true },
      showlegend: series.length > 1,
      legend: { orientation: "h", x: 0, y: 1.02, xanchor: "left", yanchor: "bottom" },
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
      font: { family: "system-ui, sans-serif", size: 12, color: "#1f2937" },
    }, { displaylogo: false, responsive: true });
  } catch (error) {
    el.classList.add("chart-error");
    el.textContent = `Cannot draw ${key}: ${error.message}`;
  }
}

function setUpCharts() {
  const charts = Array.from(document.querySelectorAll(".chart[data-series]"));
  if (charts.length === 0 || !window.Plotly) return;
  // Draw a chart when it scrolls into view: a run may have hundreds of metric keys.
  if (!("IntersectionObserver" in window)) {
    charts.forEach(drawChart);
    return;
  }
  const observer = new IntersectionObserver((entries) => {
    entries.filter((e) => e.isIntersecting).forEach((e) => {
      observer.unobserve(e.target);
      drawChart(e.target);
    });
  }, { rootMargin: "200px" });
  charts.forEach((c) => observer.observe(c));
}

function colorSwatches() {
  document.querySelectorAll(".swatch[data-index]").forEach((s) => {
    s.style.background = color(Number(s.dataset.index));
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setUpCompare();
  colorSwatches();
  setUpCharts();
});
