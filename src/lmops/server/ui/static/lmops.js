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

function drawWhenVisible(selector, draw) {
  const charts = Array.from(document.querySelectorAll(selector));
  if (charts.length === 0 || !window.Plotly) return;
  // Draw a chart when it scrolls into view: a run may have hundreds of metric keys.
  if (!("IntersectionObserver" in window)) {
    charts.forEach(draw);
    return;
  }
  const observer = new IntersectionObserver((entries) => {
    entries.filter((e) => e.isIntersecting).forEach((e) => {
      observer.unobserve(e.target);
      draw(e.target);
    });
  }, { rootMargin: "200px" });
  charts.forEach((c) => observer.observe(c));
}

function setUpCharts() {
  drawWhenVisible(".chart[data-series]", drawChart);
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

// -- traces: the waterfall selects a span, long values expand, feedback posts ------------

function selectSpan(spanId, focus) {
  const panel = document.getElementById(`span-${spanId}`);
  if (!panel) return false;
  document.querySelectorAll(".span-panel").forEach((p) => { p.hidden = p !== panel; });
  document.querySelectorAll(".wf-row").forEach((row) => {
    const selected = row.dataset.spanId === spanId;
    row.setAttribute("aria-selected", selected ? "true" : "false");
    if (selected && focus) row.focus();
  });
  setUpCollapsibles(panel);  // sizes are only known once the panel shows
  history.replaceState(null, "", `#span-${spanId}`);
  return true;
}

function setUpWaterfall() {
  const waterfall = document.getElementById("waterfall");
  if (!waterfall) return;
  const rows = () => Array.from(waterfall.querySelectorAll(".wf-row"));
  waterfall.addEventListener("click", (event) => {
    const row = event.target.closest(".wf-row");
    if (row) selectSpan(row.dataset.spanId, false);
  });
  waterfall.addEventListener("keydown", (event) => {
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    const all = rows();
    const at = all.indexOf(document.activeElement);
    const next = all[at + (event.key === "ArrowDown" ? 1 : -1)];
    if (at >= 0 && next) {
      event.preventDefault();
      selectSpan(next.dataset.spanId, true);
    }
  });
  document.addEventListener("click", (event) => {
    const link = event.target.closest("a.span-link");
    if (link && selectSpan(link.dataset.spanId, true)) event.preventDefault();
  });
  const fromHash = window.location.hash.startsWith("#span-") && window.location.hash.slice(6);
  if (!(fromHash && selectSpan(fromHash, false))) {
    const first = rows()[0];
    if (first) selectSpan(first.dataset.spanId, false);
  }
}

function setUpCollapsibles(root) {
  root.querySelectorAll(".collapsible:not([data-ready])").forEach((el) => {
    if (el.offsetParent === null) return;  // hidden: measured when its panel opens
    el.dataset.ready = "1";
    if (el.scrollHeight <= el.clientHeight + 4) {
      el.classList.remove("collapsible");
      return;
    }
    const button = document.createElement("button");
    button.type = "button";
    button.className = "expand-toggle";
    button.textContent = `Show all (${el.textContent.length.toLocaleString()} characters)`;
    button.setAttribute("aria-expanded", "false");
    button.addEventListener("click", () => {
      const open = el.classList.toggle("expanded");
      button.setAttribute("aria-expanded", open ? "true" : "false");
      button.textContent = open ? "Show less" : `Show all (${el.textContent.length.toLocaleString()} characters)`;
    });
    el.after(button);
  });
}

function feedbackCell(row, text) {
  const cell = row.insertCell();
  cell.textContent = text;
  return cell;
}

function addFeedbackRow(feedback) {
  const table = document.getElementById("feedback-list");
  const row = table.tBodies[0].insertRow();
  row.className = "is-new";
  row.dataset.feedbackId = feedback.id;
  feedbackCell(row, feedback.name);
  feedbackCell(row, feedback.value === null ? "" : String(feedback.value)).className = "fb-value";
  feedbackCell(row, feedback.source);
  feedbackCell(row, feedback.comment || "");
  const correction = feedbackCell(row, "");
  if (feedback.correction !== null && feedback.correction !== undefined) {
    const pre = document.createElement("pre");
    pre.className = "value text";
    pre.textContent = typeof feedback.correction === "string"
      ? feedback.correction : JSON.stringify(feedback.correction, null, 2);
    correction.appendChild(pre);
  }
  feedbackCell(row, feedback.created_at.replace("T", " ").slice(0, 19)).className = "nowrap";
  table.hidden = false;
  document.getElementById("feedback-empty").hidden = true;
  const count = document.getElementById("feedback-count");
  if (count) count.textContent = String(Number(count.textContent) + 1);
}

function feedbackItems(form) {
  const pressed = form.querySelector(".thumb[aria-pressed=true]");
  const score = form.elements.score.value.trim();
  const comment = form.elements.comment.value.trim() || null;
  const correction = form.elements.correction.value.trim();
  const items = [];
  if (pressed) items.push({ name: "thumbs", value: pressed.dataset.value === "true" });
  if (score !== "") {
    const value = Number(score);
    if (!Number.isFinite(value)) throw new Error("the score must be a number");
    items.push({ name: "score", value });
  }
  if (correction) items.push({ name: "correction", value: null, correction });
  if (items.length === 0 && comment) items.push({ name: "comment", value: comment });
  else if (comment) items.forEach((item) => { item.comment = comment; });
  if (items.length === 0) throw new Error("choose good or bad, or give a score, a comment or a correction");
  return items;
}

async function postFeedback(traceId, item) {
  const response = await fetch(`/api/v1/traces/${encodeURIComponent(traceId)}/feedback`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify({ ...item, source: "human" }),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.message || `HTTP ${response.status}`);
  return body;
}

function setUpFeedback() {
  const form = document.getElementById("feedback-form");
  if (!form) return;
  const status = document.getElementById("feedback-status");
  const say = (text, failed) => {
    status.textContent = text;
    status.classList.toggle("failed", failed);
  };
  form.querySelectorAll(".thumb").forEach((thumb) => {
    thumb.addEventListener("click", () => {
      const on = thumb.getAttribute("aria-pressed") !== "true";
      form.querySelectorAll(".thumb").forEach((t) => t.setAttribute("aria-pressed", "false"));
      thumb.setAttribute("aria-pressed", on ? "true" : "false");
    });
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    let items;
    try {
      items = feedbackItems(form);
    } catch (error) {
      say(error.message, true);
      return;
    }
    button.disabled = true;
    say("Sending…", false);
    let sent = 0;
    try {
      for (const item of items) {
        addFeedbackRow(await postFeedback(form.dataset.traceId, item));
        sent += 1;
      }
      form.reset();
      form.querySelectorAll(".thumb").forEach((t) => t.setAttribute("aria-pressed", "false"));
      say(`Saved ${sent} feedback ${sent === 1 ? "item" : "items"}.`, false);
    } catch (error) {
      say(`Not saved: ${error.message}`, true);
    } finally {
      button.disabled = false;
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setUpWaterfall();
  setUpCollapsibles(document);
  setUpFeedback();
});

// -- datasets: profile figures drawn from the page, and pages that refresh while a job runs --

// Plotly reads a little HTML in tick labels: show data as the text it is.
function plain(text) {
  return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function figureTrace(f) {
  if (f.kind === "histogram") {
    return { type: "bar", x: f.x, y: f.y, width: f.width,
      marker: { color: color(0), line: { color: "#ffffff", width: 1 } },
      hovertemplate: "%{x:.4g}: %{y}<extra></extra>" };
  }
  // Long labels (n-grams, languages, values) read better on horizontal bars, largest on top.
  const labels = f.x.map(plain);
  if (labels.some((l) => l.length > 6)) {
    return { type: "bar", orientation: "h", y: labels.slice().reverse(), x: f.y.slice().reverse(),
      marker: { color: color(2) }, hovertemplate: "%{y}: %{x}<extra></extra>" };
  }
  return { type: "bar", x: labels, y: f.y, marker: { color: color(2) },
    hovertemplate: "%{x}: %{y}<extra></extra>" };
}

function drawFigure(el) {
  const f = JSON.parse(el.dataset.figure);
  const trace = figureTrace(f);
  const horizontal = trace.orientation === "h";
  const category = { type: "category", automargin: true };
  el.textContent = "";  // the title is the figure's caption, in the page
  window.Plotly.newPlot(el, [trace], {
    margin: { l: 56, r: 16, t: 12, b: 44 },
    height: 270,
    bargap: f.kind === "histogram" ? 0.02 : 0.2,
    xaxis: horizontal ? { title: { text: f.y_title || "" }, automargin: true }
      : { title: { text: f.x_title || "" }, ...(f.kind === "bars" ? category : {}) },
    yaxis: horizontal ? category : { title: { text: f.y_title || "" }, automargin: true },
    showlegend: false,
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
    font: { family: "system-ui, sans-serif", size: 12, color: "#1f2937" },
  }, { displaylogo: false, responsive: true });
}

function setUpRefresh() {
  const el = document.querySelector("[data-refresh]");
  if (el) window.setTimeout(() => window.location.reload(), Number(el.dataset.refresh) * 1000);
}

document.addEventListener("DOMContentLoaded", () => {
  drawWhenVisible(".chart[data-figure]", drawFigure);
  setUpRefresh();
});
