// lmops playground: runs prompt versions (registered, or edited and not saved yet) on gateway
// endpoints side by side, streamed from /v1/chat/completions, and saves an edit as a new
// prompt version through the REST API. Same origin: the session cookie authenticates. Text
// from the server and the models only ever lands in the page as textContent.
"use strict";

const PROMPT_HEADER = "x-lmops-prompt-version";
// what a prompt version's model_params may set on a chat request
const PARAMS = ["temperature", "top_p", "max_tokens", "stop", "seed",
  "presence_penalty", "frequency_penalty"];
const ROLES = ["system", "user", "assistant", "developer", "tool"];
const MAX_COLUMNS = 4;

const state = {
  versions: [], // the chosen prompt versions, in order: see addVersion
  values: {}, // variable name -> value, kept while versions come and go
  controller: null,
  running: false,
};

const $ = (id) => document.getElementById(id);

function element(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

function button(text, className, label) {
  const made = element("button", className, text);
  made.type = "button";
  if (label) made.setAttribute("aria-label", label);
  return made;
}

function say(target, text, kind) {
  target.textContent = text;
  target.classList.toggle("failed", kind === "failed");
  target.classList.toggle("saved", kind === "saved");
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

async function call(url, body) {
  const init = { headers: { accept: "application/json" }, credentials: "same-origin" };
  if (body !== undefined) {
    init.method = "POST";
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url, init);
  const answer = await readJson(response);
  if (!response.ok) throw new Error(errorMessage(answer, response.status));
  return answer;
}

function canWrite() {
  return $("playground").dataset.canRun === "true";
}

function maxPanels() {
  return Number($("playground").dataset.maxPanels);
}

// -- prompt versions ------------------------------------------------------------------------

// The text of a version as its editor holds it: {template} or {messages}.
function editorText(version) {
  const editor = version.card.editor;
  if (version.base.template !== null) {
    return { template: editor.querySelector(".pg-template").value };
  }
  const messages = Array.from(editor.querySelectorAll(".pg-message")).map((row) => ({
    role: row.querySelector("select").value,
    content: row.querySelector("textarea").value,
  }));
  return { messages };
}

function isDraft(version) {
  return JSON.stringify(editorText(version)) !== version.pristine;
}

function messageRow(version, message) {
  const row = element("div", "pg-message");
  const role = element("select");
  role.setAttribute("aria-label", "role");
  for (const name of ROLES) role.append(new Option(name, name, false, name === message.role));
  const content = element("textarea");
  content.value = message.content;
  content.rows = Math.min(8, content.value.split("\n").length + 1);
  content.setAttribute("aria-label", "content");
  const remove = button("×", "button-link", "remove this message");
  remove.addEventListener("click", () => {
    row.remove();
    edited(version);
  });
  row.append(role, content, remove);
  return row;
}

function buildEditor(version) {
  const editor = element("div", "pg-editor");
  editor.hidden = true;
  if (version.base.template !== null) {
    const text = element("textarea", "pg-template");
    text.value = version.base.template;
    text.rows = Math.min(14, text.value.split("\n").length + 2);
    text.setAttribute("aria-label", `template of ${version.base.label}`);
    editor.append(text);
  } else {
    const list = element("div", "pg-messages");
    for (const m of version.base.messages) list.append(messageRow(version, m));
    const add = button("+ message", "button-link pg-add-message");
    add.addEventListener("click", () => {
      list.append(messageRow(version, { role: "user", content: "" }));
      edited(version);
    });
    editor.append(list, add);
  }
  const check = element("p", "pg-status pg-check");
  check.setAttribute("role", "status");
  const saveRow = element("div", "pg-save-row");
  const commit = element("input", "pg-commit");
  commit.type = "text";
  commit.placeholder = "Commit message: what changed";
  commit.maxLength = 10000;
  commit.setAttribute("aria-label", "commit message");
  const save = button("Save as new version", "pg-save");
  const discard = button("Discard edits", "button-link pg-discard");
  if (!canWrite()) {
    save.disabled = true;
    save.title = "saving a version needs editor or above";
  }
  saveRow.append(commit, save, discard);
  const saved = element("p", "pg-status pg-save-status");
  saved.setAttribute("role", "status");
  editor.append(check, saveRow, saved);
  editor.addEventListener("input", () => edited(version));
  editor.addEventListener("change", () => edited(version));
  commit.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.ctrlKey && !event.metaKey) {
      event.preventDefault(); // not a run: Enter here saves
      saveVersion(version);
    }
  });
  save.addEventListener("click", () => saveVersion(version));
  discard.addEventListener("click", () => discardEdits(version));
  return { editor, check, commit, save, discard, saved };
}

function versionCard(version, holder) {
  const li = holder || element("li");
  li.className = "pg-version";
  li.replaceChildren();
  delete li.dataset.requested;
  const head = element("div", "pg-version-head");
  const link = element("a");
  const badge = element("span", "badge draft", "draft");
  badge.hidden = true;
  badge.title = "edited here, not saved: runs as a draft, not recorded as a prompt version";
  const edit = button("Edit", "button-link pg-edit");
  const remove = button("×", "button-link pg-remove", "remove this version");
  head.append(link, badge, element("span", "spacer"), edit, remove);
  const commitLine = element("p", "pg-commit-line");
  const parts = buildEditor(version);
  li.append(head, commitLine, parts.editor);
  version.card = { li, link, badge, edit, commitLine, ...parts };
  showBase(version);
  edit.setAttribute("aria-expanded", "false");
  edit.addEventListener("click", () => {
    parts.editor.hidden = !parts.editor.hidden;
    edit.textContent = parts.editor.hidden ? "Edit" : "Close";
    edit.setAttribute("aria-expanded", String(!parts.editor.hidden));
  });
  remove.addEventListener("click", () => removeVersion(version));
  return li;
}

// Show which registered version the card stands for (after adding it or saving an edit).
function showBase(version) {
  const { li, link } = version.card;
  const base = version.base;
  li.dataset.uri = base.uri;
  link.textContent = base.label;
  link.href = `/prompts/${encodeURIComponent(base.name)}/${base.version}`;
  link.title = base.uri;
  version.card.commitLine.textContent = base.commit_message;
  version.card.commitLine.title = base.commit_message;
  version.pristine = JSON.stringify(editorText(version));
  version.variables = base.variables;
  version.problem = null;
  markDraft(version);
}

function markDraft(version) {
  const draft = isDraft(version);
  version.card.li.classList.toggle("is-draft", draft);
  version.card.badge.hidden = !draft;
  return draft;
}

function addVersion(description, holder) {
  if (state.versions.some((v) => v.base.uri === description.uri)) {
    if (holder) holder.remove();
    return;
  }
  const version = { base: description, check: 0, timer: null };
  const li = versionCard(version, holder);
  if (!holder) $("versions").append(li);
  state.versions.push(version);
  refresh();
}

function removeVersion(version) {
  window.clearTimeout(version.timer);
  version.card.li.remove();
  state.versions = state.versions.filter((v) => v !== version);
  refresh();
}

function discardEdits(version) {
  const fresh = buildEditor(version);
  fresh.editor.hidden = version.card.editor.hidden;
  version.card.editor.replaceWith(fresh.editor);
  Object.assign(version.card, fresh);
  showBase(version);
  refresh();
}

function edited(version) {
  markDraft(version);
  say(version.card.saved, "");
  window.clearTimeout(version.timer);
  version.timer = window.setTimeout(() => checkText(version), 300);
}

// Ask the server what the edited text uses (and whether it would register): its variables,
// or its first problem with the line and column.
async function checkText(version) {
  window.clearTimeout(version.timer);
  const ticket = ++version.check;
  if (!markDraft(version)) {
    version.variables = version.base.variables;
    version.problem = null;
    say(version.card.check, "");
    refresh();
    return;
  }
  try {
    const answer = await call("/playground/render", editorText(version));
    if (ticket !== version.check) return;
    version.variables = answer.variables;
    version.problem = null;
    const uses = answer.variables.length ? `uses ${answer.variables.join(", ")}` : "uses no variables";
    say(version.card.check, `Draft of ${version.base.uri}: ${uses}.`);
  } catch (error) {
    if (ticket !== version.check) return;
    version.problem = error.message;
    say(version.card.check, error.message, "failed");
  }
  refresh();
}

function describeSaved(saved) {
  const kind = saved.messages ? "chat" : "text";
  return {
    uri: `prompts:/${saved.name}/${saved.version}`,
    name: saved.name,
    version: saved.version,
    label: `${saved.name} v${saved.version} (${kind})`,
    template: saved.template,
    messages: saved.messages,
    variables: saved.variables,
    model_params: saved.model_params,
    response_format: saved.response_format,
    commit_message: saved.commit_message,
  };
}

function addChoice(description) {
  const select = $("prompt-select");
  let group = Array.from(select.querySelectorAll("optgroup")).find((g) => g.label === description.name);
  if (!group) {
    group = element("optgroup");
    group.label = description.name;
    select.append(group);
  }
  group.prepend(new Option(description.label, description.uri));
}

async function saveVersion(version) {
  const { commit, save, saved } = version.card;
  if (!canWrite() || save.disabled) return;
  if (!isDraft(version)) {
    say(saved, `Nothing to save: this is ${version.base.uri} as registered.`, "failed");
    return;
  }
  const message = commit.value.trim();
  if (!message) {
    say(saved, "Say what changed in a commit message first.", "failed");
    commit.focus();
    return;
  }
  const body = {
    ...editorText(version),
    model_params: version.base.model_params,
    response_format: version.base.response_format,
    commit_message: message,
  };
  save.disabled = true;
  say(saved, "Saving…");
  try {
    const url = `/api/v1/prompts/${encodeURIComponent(version.base.name)}/versions`;
    const registered = describeSaved(await call(url, body));
    const before = version.base.uri;
    version.base = registered;
    version.check++; // a check still under way is about the text before
    commit.value = "";
    showBase(version);
    say(version.card.check, "");
    addChoice(registered);
    say(saved, `Saved as version ${registered.version} (${registered.uri}), from ${before}.`, "saved");
  } catch (error) {
    say(saved, `Not saved: ${error.message}`, "failed");
  } finally {
    save.disabled = false;
  }
  refresh();
}

async function loadVersion(uri) {
  return call(`/playground/prompt?uri=${encodeURIComponent(uri)}`);
}

async function pickVersion() {
  const select = $("prompt-select");
  const uri = select.value;
  select.value = "";
  if (!uri) return;
  say($("prompt-status"), `Loading ${uri}…`);
  try {
    addVersion(await loadVersion(uri));
    say($("prompt-status"), "");
  } catch (error) {
    say($("prompt-status"), `${uri}: ${error.message}`, "failed");
  }
}

// -- variables and the plan -----------------------------------------------------------------

// One field per variable that any chosen version uses; each version is sent only its own.
function showVariables() {
  const users = new Map();
  for (const version of state.versions) {
    for (const name of version.variables) {
      if (!users.has(name)) users.set(name, []);
      users.get(name).push(version.base.label.split(" (")[0]);
    }
  }
  const holder = $("prompt-variables");
  const focused = document.activeElement && document.activeElement.dataset
    ? document.activeElement.dataset.variable : undefined;
  const shown = Array.from(holder.querySelectorAll("textarea")).map((t) => t.dataset.variable);
  if (JSON.stringify(shown) === JSON.stringify([...users.keys()])) {
    holder.querySelectorAll(".used-by").forEach((note) => {
      note.textContent = `used by ${users.get(note.dataset.variable).join(", ")}`;
    });
    return; // same fields: keep them (and the caret) where they are
  }
  holder.replaceChildren();
  for (const [name, by] of users) {
    const label = element("label", "", name);
    const note = element("span", "used-by", `used by ${by.join(", ")}`);
    note.dataset.variable = name;
    const input = element("textarea");
    input.rows = 2;
    input.dataset.variable = name;
    input.value = state.values[name] || "";
    input.addEventListener("input", () => { state.values[name] = input.value; });
    label.append(note, input);
    holder.append(label);
    if (name === focused) input.focus();
  }
}

function chosenEndpoints() {
  return Array.from(document.querySelectorAll("#endpoint-choice input:checked")).map((b) => b.value);
}

function showPlan() {
  const endpoints = chosenEndpoints().length;
  const versions = state.versions.length;
  const panels = endpoints * Math.max(1, versions);
  const plan = $("plan");
  const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
  if (endpoints === 0) {
    say(plan, "Pick at least one endpoint.", "failed");
  } else if (panels > maxPanels()) {
    say(plan, `${plural(versions, "prompt version")} × ${plural(endpoints, "endpoint")} make ` +
      `${panels} panels: at most ${maxPanels()} run side by side. Remove a version or an endpoint.`,
    "failed");
  } else if (versions > 0) {
    say(plan, `${plural(versions, "prompt version")} × ${plural(endpoints, "endpoint")}: ` +
      `${plural(panels, "panel")}.`);
  } else {
    say(plan, "");
  }
  $("run").disabled = !canWrite() || state.running || endpoints === 0 || panels > maxPanels();
}

function refresh() {
  const prompted = state.versions.length > 0;
  $("messages-form").hidden = prompted;
  $("params-note").hidden = !prompted;
  const chosen = new Set(state.versions.map((v) => v.base.uri));
  document.querySelectorAll("#prompt-select option").forEach((option) => {
    option.disabled = chosen.has(option.value);
  });
  showVariables();
  showPlan();
}

// -- running --------------------------------------------------------------------------------

function pick(values, names) {
  const picked = {};
  for (const name of names) picked[name] = values[name] || "";
  return picked;
}

// What a panel's version sends: its messages filled in, the prompt version to record (none
// for a draft) and its own parameters.
async function prepare(version) {
  if (version === null) {
    const messages = [];
    if ($("system").value.trim()) messages.push({ role: "system", content: $("system").value });
    messages.push({ role: "user", content: $("user").value });
    return { messages, promptUri: null, params: {} };
  }
  const draft = isDraft(version);
  if (draft) {
    await checkText(version); // the variables of the text as it is now
    if (version.problem) throw new Error(version.problem);
  }
  const text = draft ? editorText(version) : { uri: version.base.uri };
  const answer = await call("/playground/render", {
    ...text,
    variables: pick(state.values, version.variables),
  });
  const params = {};
  for (const key of PARAMS) {
    if (key in (version.base.model_params || {})) params[key] = version.base.model_params[key];
  }
  return { messages: answer.messages, promptUri: draft ? null : version.base.uri, params };
}

function resultPanel(endpoint, version) {
  const panel = element("article", "pg-result");
  panel.dataset.endpoint = endpoint;
  const head = element("header");
  if (version) {
    panel.dataset.prompt = version.base.uri;
    const draft = isDraft(version);
    panel.dataset.draft = String(draft);
    panel.classList.toggle("draft-run", draft);
    const prompt = element("a", "pg-prompt", version.base.label.split(" (")[0]);
    prompt.href = version.card.link.href;
    prompt.title = version.base.uri;
    head.append(prompt);
    if (draft) {
      const badge = element("span", "badge draft", "draft");
      badge.title = `unsaved edit of ${version.base.uri}: not recorded as a prompt version`;
      head.append(badge);
    }
  }
  const link = element("a", "pg-endpoint", endpoint);
  link.href = `/endpoints/${encodeURIComponent(endpoint)}`;
  link.title = `endpoint ${endpoint}`;
  const status = element("span", "pg-state running", "waiting…");
  const params = element("span", "pg-params");
  if (version) head.append(element("span", "muted pg-on", "on"));
  head.append(link, status, params);
  const text = element("div", "pg-text");
  text.setAttribute("aria-live", "polite");
  const note = element("p", "pg-note");
  const error = element("p", "pg-error alert");
  const stats = element("dl", "pg-stats");
  panel.append(head, text, note, error, stats);
  return { panel, status, params, text, note, error, stats };
}

function addStat(view, label, value, key, title) {
  const row = element("div");
  row.dataset.stat = key;
  if (title) row.title = title;
  row.append(element("dt", "", label), element("dd", "", value));
  view.stats.append(row);
  return row;
}

function ms(value) {
  return value < 1000 ? `${Math.round(value)} ms` : `${(value / 1000).toFixed(2)} s`;
}

function usd(value) {
  if (value === 0) return "$0";
  if (value >= 1) return `$${value.toFixed(2)}`;
  if (value >= 0.01) return `$${value.toFixed(4)}`;
  // two significant digits of a small amount, without an exponent
  return `$${value.toFixed(Math.min(12, 1 - Math.floor(Math.log10(value))))}`;
}

// The cost of the answer by the price table, per model the endpoint routes to.
async function showCost(view, endpoint, usage) {
  const query = new URLSearchParams({
    endpoint,
    input_tokens: usage.prompt_tokens || 0,
    output_tokens: usage.completion_tokens || 0,
  });
  let models;
  try {
    models = (await call(`/playground/cost?${query}`)).models;
  } catch (error) {
    addStat(view, "cost", "unknown", "cost", error.message).classList.add("no-price");
    return;
  }
  const priced = models.filter((m) => m.cost !== null);
  const unpriced = models.filter((m) => m.cost === null).map((m) => m.model);
  const sources = priced.map((m) => m.source);
  if (unpriced.length) sources.push(`no price for ${unpriced.join(", ")}`);
  if (priced.length === 0) {
    const title = `no price for ${unpriced.join(", ") || endpoint} in the price table`;
    addStat(view, "cost", "no price", "cost", title).classList.add("no-price");
    return;
  }
  const costs = priced.map((m) => m.cost);
  const low = Math.min(...costs);
  const high = Math.max(...costs);
  let figure = low === high ? usd(low) : `${usd(low)}–${usd(high)}`;
  if (unpriced.length) figure += " or no price";
  addStat(view, "cost", figure, "cost", sources.join("; "));
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

async function stream(response, run) {
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
  return done;
}

function failed(view, message, stopped) {
  view.status.className = "pg-state failed";
  view.status.textContent = stopped ? "stopped" : "failed";
  if (!stopped) view.error.textContent = message;
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
    const done = await stream(response, run);
    const total = performance.now() - run.started;
    view.stats.replaceChildren();
    if (run.usage) {
      addStat(view, "in", `${run.usage.prompt_tokens} tokens`, "tokens-in");
      addStat(view, "out", `${run.usage.completion_tokens} tokens`, "tokens-out");
    }
    if (run.firstToken !== null) addStat(view, "first token", ms(run.firstToken), "ttft");
    addStat(view, "total", ms(total), "latency");
    if (run.usage) await showCost(view, endpoint, run.usage);
    const answer = view.text.textContent;
    if (answer && !answer.trim()) {
      view.note.textContent = `The answer is whitespace only (${answer.length} characters).`;
    }
    view.status.className = "pg-state";
    view.status.textContent = done ? "done" : "ended early";
  } catch (error) {
    failed(view, error.message, signal.aborted);
  }
}

function showParams(view, request) {
  const shown = PARAMS.filter((key) => request[key] !== undefined)
    .map((key) => `${key} ${JSON.stringify(request[key])}`);
  view.params.textContent = shown.join(" · ");
}

function layPanels(panels, columns) {
  const results = $("results");
  results.style.setProperty("--pg-columns", Math.min(columns, MAX_COLUMNS));
  results.style.setProperty("--pg-columns-narrow", Math.min(columns, 2));
  results.replaceChildren(...panels.map((p) => p.view.panel));
}

async function run(event) {
  event.preventDefault();
  showPlan();
  if ($("run").disabled) return; // running already, nothing to run, or the caller may not
  const endpoints = chosenEndpoints();
  const versions = state.versions.length ? state.versions.slice() : [null];
  for (const version of state.versions) {
    if (!isDraft(version)) { // edits undone, and not checked yet
      window.clearTimeout(version.timer);
      version.check++;
      version.variables = version.base.variables;
      version.problem = null;
      say(version.card.check, "");
    }
  }
  if (versions[0] === null && !$("user").value.trim()) {
    $("user").focus();
    return;
  }
  const empty = [...new Set(versions.flatMap((v) => (v ? v.variables : [])))]
    .filter((name) => !state.values[name]);
  if (empty.length) {
    say($("prompt-status"), `Fill in ${empty.join(", ")} first.`, "failed");
    return;
  }
  say($("prompt-status"), "");
  const base = {
    stream: true,
    stream_options: { include_usage: true },
    temperature: Number($("temperature").value),
    max_tokens: Number($("max-tokens").value),
  };
  // rows are endpoints, columns the versions (or the endpoints, with one version or none)
  const panels = endpoints.flatMap((endpoint) => versions.map((version) => (
    { endpoint, version, view: resultPanel(endpoint, version) })));
  layPanels(panels, versions.length > 1 ? versions.length : panels.length);
  state.controller = new AbortController();
  state.running = true;
  $("stop").disabled = false;
  showPlan();
  const signal = state.controller.signal;
  try {
    const prepared = versions.map((v) => prepare(v).then((ok) => ({ ok }), (error) => ({ error })));
    await Promise.all(panels.map(async ({ endpoint, version, view }) => {
      const ready = await prepared[versions.indexOf(version)];
      if (ready.error) {
        failed(view, ready.error.message, false);
        return;
      }
      const request = { ...base, ...ready.ok.params, messages: ready.ok.messages };
      showParams(view, request);
      await runOne(endpoint, request, ready.ok.promptUri, view, signal);
    }));
  } finally {
    state.running = false;
    state.controller = null;
    $("stop").disabled = true;
    showPlan();
  }
}

async function loadRequested() {
  const pending = Array.from(document.querySelectorAll("#versions li[data-requested]"));
  for (const holder of pending) {
    const uri = holder.dataset.requested;
    try {
      addVersion(await loadVersion(uri), holder);
    } catch (error) {
      holder.remove();
      say($("prompt-status"), `${uri}: ${error.message}`, "failed");
    }
  }
  refresh();
}

function setUp() {
  const form = $("playground");
  if (!form) return;
  form.addEventListener("submit", run);
  form.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
  });
  $("stop").addEventListener("click", () => state.controller && state.controller.abort());
  $("prompt-select").addEventListener("change", pickVersion);
  $("endpoint-choice").addEventListener("change", showPlan);
  refresh();
  loadRequested();
}

document.addEventListener("DOMContentLoaded", setUp);
