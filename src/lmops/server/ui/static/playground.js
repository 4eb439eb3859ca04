// lmops playground: chats with gateway endpoints side by side, streamed from
// /v1/chat/completions (same origin: the session cookie authenticates). Text from the
// server and the models only ever lands in the page as textContent.
"use strict";

const MAX_COMPARED = 4;
const PROMPT_HEADER = "x-lmops-prompt-version";

const state = {
  prompt: null, // {uri, variables, messages} of the registered prompt version in use
  rendered: null, // {system, user} as the prompt filled them in, to notice edits
  controller: null,
};

const $ = (id) => document.getElementById(id);

function element(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

async function readJson(response) {
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    return { message: `HTTP ${response.status}: the server did not answer JSON` };
  }
}

// OpenAI's error shape ({"error": {"message"}}) or ours ({"error": code, "message"}).
function errorMessage(body, status) {
  if (body && typeof body.error === "object" && body.error && body.error.message) {
    return body.error.message;
  }
  if (body && body.message) return body.message;
  return `HTTP ${status}`;
}

// -- registered prompts ---------------------------------------------------------------------

function setPromptStatus(text, failed) {
  const status = $("prompt-status");
  status.textContent = text;
  status.classList.toggle("failed", Boolean(failed));
}

async function fetchPrompt(uri, variables) {
  let url = `/playground/prompt?uri=${encodeURIComponent(uri)}`;
  if (variables) url += `&variables=${encodeURIComponent(JSON.stringify(variables))}`;
  const response = await fetch(url, { headers: { accept: "application/json" } });
  const body = await readJson(response);
  if (!response.ok) throw new Error(errorMessage(body, response.status));
  return body;
}

function variableValues() {
  const values = {};
  document.querySelectorAll("#prompt-variables textarea").forEach((t) => {
    values[t.dataset.variable] = t.value;
  });
  return values;
}

function showVariables(names) {
  const holder = $("prompt-variables");
  holder.replaceChildren();
  let timer = null;
  for (const name of names) {
    const label = element("label", "", name);
    const input = element("textarea");
    input.rows = 2;
    input.dataset.variable = name;
    input.addEventListener("input", () => {
      window.clearTimeout(timer);
      timer = window.setTimeout(fillIn, 300);
    });
    label.append(input);
    holder.append(label);
  }
}

// Split a prompt's messages over the form: its system message, the messages between
// (examples, context: shown, not editable) and the last user message.
function applyMessages(messages) {
  const list = messages.slice();
  const system = list.length && list[0].role === "system" ? list.shift().content : "";
  const user = list.length && list[list.length - 1].role === "user" ? list.pop().content : "";
  $("system").value = system;
  $("user").value = user;
  const context = $("context-messages");
  context.replaceChildren();
  for (const m of list) {
    const box = element("div", `message role-${m.role}`);
    box.append(element("span", "role", m.role), element("div", "content", m.content));
    context.append(box);
  }
  state.prompt.messages = messages;
  state.rendered = { system, user };
}

async function fillIn() {
  const prompt = state.prompt;
  if (!prompt) return;
  const values = variableValues();
  const missing = prompt.variables.filter((v) => !values[v]);
  if (missing.length) {
    setPromptStatus(`Fill in ${missing.join(", ")} to render ${prompt.uri}.`);
    return;
  }
  try {
    const body = await fetchPrompt(prompt.uri, values);
    if (state.prompt !== prompt) return; // another prompt was picked meanwhile
    applyMessages(body.messages);
    setPromptStatus(`Rendered ${prompt.uri}: runs are recorded with it.`);
  } catch (error) {
    setPromptStatus(error.message, true);
  }
}

function forgetPrompt() {
  state.prompt = null;
  state.rendered = null;
  $("prompt-variables").replaceChildren();
  $("context-messages").replaceChildren();
  setPromptStatus("");
}

async function pickPrompt() {
  const uri = $("prompt-select").value;
  forgetPrompt();
  if (!uri) return;
  setPromptStatus(`Loading ${uri}…`);
  try {
    const body = await fetchPrompt(uri);
    if ($("prompt-select").value !== uri) return;
    state.prompt = { uri: body.uri, variables: body.variables, messages: null };
    const params = body.model_params || {};
    if (typeof params.temperature === "number") $("temperature").value = params.temperature;
    if (Number.isInteger(params.max_tokens)) $("max-tokens").value = params.max_tokens;
    showVariables(body.variables);
    if (body.messages) {
      applyMessages(body.messages);
      setPromptStatus(`Using ${body.uri}: runs are recorded with it.`);
    } else {
      setPromptStatus(`Fill in ${body.variables.join(", ")} to render ${body.uri}.`);
    }
  } catch (error) {
    setPromptStatus(error.message, true);
  }
}

// The messages to send, and the prompt version to record when the form still holds
// exactly what that version rendered.
function conversation() {
  const system = $("system").value;
  const user = $("user").value;
  const prompt = state.prompt;
  if (prompt && prompt.messages && state.rendered &&
      state.rendered.system === system && state.rendered.user === user) {
    return { messages: prompt.messages, promptUri: prompt.uri };
  }
  if (prompt && prompt.messages) {
    setPromptStatus(`Edited: this run is not recorded as ${prompt.uri}.`);
  }
  const messages = [];
  if (system.trim()) messages.push({ role: "system", content: system });
  document.querySelectorAll("#context-messages .message").forEach((m) => {
    messages.push({
      role: m.querySelector(".role").textContent,
      content: m.querySelector(".content").textContent,
    });
  });
  messages.push({ role: "user", content: user });
  return { messages, promptUri: null };
}

// -- running --------------------------------------------------------------------------------

function resultColumn(endpoint) {
  const column = element("article", "pg-result");
  column.dataset.endpoint = endpoint;
  const head = element("header");
  const link = element("a", "", endpoint);
  link.href = `/endpoints/${encodeURIComponent(endpoint)}`;
  const status = element("span", "pg-state running", "waiting…");
  head.append(link, status);
  const text = element("div", "pg-text");
  text.setAttribute("aria-live", "polite");
  const note = element("p", "pg-note");
  const error = element("p", "pg-error alert");
  const stats = element("dl", "pg-stats");
  column.append(head, text, note, error, stats);
  return { column, status, text, note, error, stats };
}

function showStats(view, figures) {
  view.stats.replaceChildren();
  for (const [label, value, key] of figures) {
    const row = element("div");
    row.dataset.stat = key;
    row.append(element("dt", "", label), element("dd", "", value));
    view.stats.append(row);
  }
}

function ms(value) {
  return value < 1000 ? `${Math.round(value)} ms` : `${(value / 1000).toFixed(2)} s`;
}

// Handle one server-sent event; true once the stream says it is done.
function onEvent(event, run) {
  for (const line of event.split("\n")) {
    if (!line.startsWith("data:")) continue;
    const data = line.slice(5).trim();
    if (data === "[DONE]") return true;
    const chunk = JSON.parse(data);
    if (chunk.error) throw new Error(errorMessage(chunk, 200));
    if (chunk.usage) run.usage = chunk.usage;
    for (const choice of chunk.choices || []) {
      const piece = (choice.delta && choice.delta.content) || "";
      if (!piece) continue;
      if (run.firstToken === null) {
        run.firstToken = performance.now() - run.started;
        run.view.status.textContent = "streaming…";
      }
      run.view.text.textContent += piece;
    }
  }
  return false;
}

async function runOne(endpoint, request, promptUri, view, signal) {
  const run = { view, started: performance.now(), firstToken: null, usage: null };
  const headers = { "content-type": "application/json", accept: "text/event-stream" };
  if (promptUri) headers[PROMPT_HEADER] = promptUri;
  try {
    const response = await fetch("/v1/chat/completions", {
      method: "POST",
      headers,
      credentials: "same-origin",
      body: JSON.stringify({ ...request, model: endpoint }),
      signal,
    });
    if (!response.ok) throw new Error(errorMessage(await readJson(response), response.status));
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let done = false;
    while (!done) {
      const { value, done: ended } = await reader.read();
      if (ended) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while (!done && (cut = buffer.indexOf("\n\n")) >= 0) {
        done = onEvent(buffer.slice(0, cut), run);
        buffer = buffer.slice(cut + 2);
      }
    }
    const total = performance.now() - run.started;
    const figures = [];
    if (run.usage) {
      figures.push(["in", `${run.usage.prompt_tokens} tokens`, "tokens-in"]);
      figures.push(["out", `${run.usage.completion_tokens} tokens`, "tokens-out"]);
    }
    if (run.firstToken !== null) figures.push(["first token", ms(run.firstToken), "ttft"]);
    figures.push(["total", ms(total), "latency"]);
    showStats(view, figures);
    const answer = view.text.textContent;
    if (answer && !answer.trim()) {
      view.note.textContent = `The answer is whitespace only (${answer.length} characters).`;
    }
    view.status.className = "pg-state";
    view.status.textContent = done ? "done" : "ended early";
  } catch (error) {
    view.status.className = "pg-state failed";
    view.status.textContent = signal.aborted ? "stopped" : "failed";
    if (!signal.aborted) view.error.textContent = error.message;
  }
}

function chosenEndpoints() {
  return Array.from(document.querySelectorAll("#endpoint-choice input:checked")).map((b) => b.value);
}

async function run(event) {
  event.preventDefault();
  if ($("run").disabled) return; // running already, or the caller may not run
  const endpoints = chosenEndpoints();
  const results = $("results");
  if (endpoints.length === 0) {
    results.replaceChildren(element("p", "pg-empty", "Pick at least one endpoint."));
    return;
  }
  if (!$("user").value.trim()) {
    $("user").focus();
    return;
  }
  const { messages, promptUri } = conversation();
  const request = {
    messages,
    stream: true,
    stream_options: { include_usage: true },
    temperature: Number($("temperature").value),
    max_tokens: Number($("max-tokens").value),
  };
  const views = endpoints.map(resultColumn);
  results.replaceChildren(...views.map((v) => v.column));
  state.controller = new AbortController();
  $("run").disabled = true;
  $("stop").disabled = false;
  try {
    await Promise.all(endpoints.map((name, i) =>
      runOne(name, request, promptUri, views[i], state.controller.signal)));
  } finally {
    $("run").disabled = false;
    $("stop").disabled = true;
    state.controller = null;
  }
}

function limitChoices() {
  const boxes = Array.from(document.querySelectorAll("#endpoint-choice input"));
  const full = boxes.filter((b) => b.checked).length >= MAX_COMPARED;
  boxes.forEach((b) => { b.disabled = full && !b.checked; });
}

function setUp() {
  const form = $("playground");
  if (!form) return;
  form.addEventListener("submit", run);
  form.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
  });
  $("stop").addEventListener("click", () => state.controller && state.controller.abort());
  $("prompt-select").addEventListener("change", pickPrompt);
  $("endpoint-choice").addEventListener("change", limitChoices);
  limitChoices();
  if ($("prompt-select").value) pickPrompt();
}

document.addEventListener("DOMContentLoaded", setUp);
