// memoird operator dashboard: plain JS over the daemon's JSON API, no build step.
// Text from feeds is untrusted: it is only ever inserted with textContent, never as HTML.
"use strict";

const PAGE = 50;
const state = { offset: 0, total: 0, filters: {}, selected: null };

// ------------------------------------------------------------------ helpers

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const badge = (text) => el("span", { class: `badge ${text}` }, text);
const when = (iso) => (iso ? iso.replace("T", " ").slice(0, 19) : "");
const safeLink = (url, text) =>
  /^https?:\/\//i.test(url || "") ? el("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, text || url) : text || url || "";

function token() { return sessionStorage.getItem("memoird-token") || ""; }

function say(text, kind = "ok") {
  const box = document.getElementById("message");
  box.textContent = text;
  box.className = kind;
}

async function api(path, options = {}) {
  const headers = { Accept: "application/json", ...(options.headers || {}) };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  if (options.auth) headers.Authorization = `Bearer ${token()}`;
  const response = await fetch(path, {
    method: options.method || "GET", headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail || data);
    throw new Error(`${response.status}: ${detail}`);
  }
  return data;
}

// ------------------------------------------------------------------ header

async function loadStatus() {
  try {
    const s = await api("/api/status");
    const mem = s.memory || {};
    const parts = [`model ${s.model}`, s.engine_loaded ? "loaded" : "loading"];
    if (mem.edits !== undefined) parts.push(`memory ${mem.edits} edits`);
    const counts = Object.entries(s.edits).filter(([, n]) => n).map(([k, n]) => `${n} ${k}`);
    if (counts.length) parts.push(counts.join(", "));
    if (s.scheduler) parts.push(s.scheduler.healthy ? "pipeline healthy" : "pipeline UNHEALTHY");
    if (!s.writes_enabled) parts.push("actions disabled (no token configured)");
    document.getElementById("status").textContent = parts.join(" · ");
  } catch (err) {
    document.getElementById("status").textContent = `status unavailable: ${err.message}`;
  }
}

function showTokenState() {
  document.getElementById("token-state").textContent = token() ? "token set for this tab" : "no token";
}

// ------------------------------------------------------------------ edit log

function filterQuery() {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(state.filters)) {
    if (!value) continue;
    params.set(key, key === "since" ? `${value}T00:00:00+00:00` : value);
  }
  params.set("limit", PAGE);
  params.set("offset", state.offset);
  return params.toString();
}

async function loadEdits() {
  let page;
  try {
    page = await api(`/api/edits?${filterQuery()}`);
  } catch (err) {
    say(`cannot load the edit log: ${err.message}`, "error");
    return;
  }
  state.total = page.total;
  const rows = document.getElementById("edit-rows");
  rows.replaceChildren(...page.items.map((e) =>
    el("tr", { class: `clickable${state.selected === e.id ? " selected" : ""}`, dataset: { editId: e.id, status: e.status },
               onclick: () => showEdit(e.id) },
      el("td", {}, e.id), el("td", {}, badge(e.status)), el("td", {}, e.subject),
      el("td", { title: e.relation || "" }, e.relation_label || e.relation || ""), el("td", {}, e.target), el("td", { class: "muted" }, e.old_answer || ""),
      el("td", { class: "muted" }, when(e.updated_at)))));
  if (!page.items.length) rows.append(el("tr", {}, el("td", { colspan: 7, class: "muted" }, "no edits match")));
  const last = Math.min(state.offset + page.items.length, state.total);
  document.getElementById("page-info").textContent =
    state.total ? `${state.offset + 1}–${last} of ${state.total}` : "0 edits";
  document.getElementById("prev").disabled = state.offset === 0;
  document.getElementById("next").disabled = last >= state.total;
}

async function showEdit(id) {
  state.selected = id;
  for (const row of document.querySelectorAll("#edit-rows tr"))
    row.classList.toggle("selected", Number(row.dataset.editId) === id);
  const box = document.getElementById("edit-detail");
  let d;
  try {
    d = await api(`/api/edits/${id}`);
  } catch (err) {
    say(`cannot load edit ${id}: ${err.message}`, "error");
    return;
  }
  const e = d.edit;
  const actions = [];
  const can = { approve: ["pending", "failed", "rejected", "reverted"], reject: ["pending", "approved", "failed"], revert: ["applied"] };
  for (const [name, statuses] of Object.entries(can)) {
    if (statuses.includes(e.status))
      actions.push(el("button", { class: name === "approve" ? "primary" : "danger", dataset: { action: name },
                                  "data-testid": `action-${name}`, onclick: () => act(id, name) }, name));
  }
  const sources = (d.sources || []).map((s) =>
    el("div", { class: "source", "data-testid": "source" },
      el("div", {}, el("strong", {}, s.domain || ""), " ", safeLink(s.url, s.article_title || s.url),
         s.published_at ? el("span", { class: "muted" }, ` · ${when(s.published_at)}`) : null),
      el("blockquote", { "data-testid": "evidence" }, s.evidence || "(no evidence sentence)"),
      el("div", { class: "muted" }, `fact: ${s.subject} — ${s.raw_relation} → ${s.object}` +
         (s.confidence != null ? ` (confidence ${Number(s.confidence).toFixed(2)})` : "") +
         (s.feed_title || s.feed_url ? ` · feed ${s.feed_title || s.feed_url}` : ""))));
  const probes = (d.probes || []).map((p) =>
    el("li", {}, `${(p.template || "").replace("{subject}", e.subject)} → `, el("q", {}, p.answer || "—"), " ", badge(p.verdict),
       p.memory_generation != null ? el("span", { class: "muted" }, ` gen ${p.memory_generation}`) : null));
  const after = Object.entries(d.after || {}).map(([k, v]) =>
    [el("dt", {}, k), el("dd", {}, typeof v === "object" ? JSON.stringify(v) : String(v))]);
  const events = (d.events || []).map((ev) =>
    el("li", {}, el("span", { class: "muted" }, when(ev.at)), ` ${ev.from_status || "—"} → `, badge(ev.to_status),
       ` by ${ev.actor}: ${ev.reason || ""}`));
  box.replaceChildren(...[
    el("h2", {}, `Edit #${e.id} `, badge(e.status)),
    el("dl", {},
      el("dt", {}, "subject"), el("dd", {}, e.subject),
      el("dt", {}, "relation"), el("dd", {}, e.relation ? `${e.relation_label || e.relation} (${e.relation})` : "—"),
      el("dt", {}, "prompt"), el("dd", {}, e.prompt),
      el("dt", {}, "new answer"), el("dd", { "data-testid": "target" }, e.target),
      el("dt", {}, "old answer"), el("dd", {}, e.old_answer || "—"),
      el("dt", {}, "policy rule"), el("dd", { "data-testid": "policy-rule" }, d.policy_rule || "—"),
      el("dt", {}, "why"), el("dd", {}, e.why || "—"),
      el("dt", {}, "claim"), el("dd", {}, d.claim ? `#${d.claim.id} ${d.claim.subject} / ${d.claim.relation} → ${d.claim.object} (${d.claim.domain_count} domains, ${d.claim.status})` : "—")),
    el("div", { class: "actions" }, actions.length
      ? [el("input", { id: "action-reason", "data-testid": "action-reason", placeholder: "reason (optional)" }), ...actions]
      : el("span", { class: "muted" }, "no action available in this status")),
    el("h3", {}, `Sources (${sources.length})`), sources.length ? sources : el("p", { class: "muted" }, "none recorded"),
    el("h3", {}, "Model before (probes)"), probes.length ? el("ul", { "data-testid": "probes" }, probes) : el("p", { class: "muted" }, "no probes"),
    el("h3", {}, "After (verification)"), after.length ? el("dl", { "data-testid": "verification" }, after.flat()) : el("p", { class: "muted" }, "not verified yet"),
    el("h3", {}, "History"), el("ol", { "data-testid": "events" }, events)].flat());
  box.hidden = false;
}

async function act(id, name) {
  if (!token()) {
    say("enter the API token first (it stays in this browser tab only)", "error");
    document.getElementById("token").focus();
    return;
  }
  const given = document.getElementById("action-reason");
  const reason = (given && given.value.trim()) || `${name} on the dashboard`;
  try {
    const edit = await api(`/api/edits/${id}/${name}`, { method: "POST", auth: true, body: { reason } });
    say(`edit #${id} is now ${edit.status}`);
  } catch (err) {
    say(`${name} of edit #${id} failed: ${err.message}`, "error");
  }
  await Promise.all([loadEdits(), showEdit(id), loadStatus()]);
}

// ------------------------------------------------------------------ feeds

async function loadFeeds() {
  let data;
  try {
    data = await api("/api/feeds");
  } catch (err) {
    say(`cannot load feeds: ${err.message}`, "error");
    return;
  }
  const feedAction = (f, name, method = "POST") => el("button", {
    "data-testid": `feed-${name}`, class: name === "remove" ? "danger" : "",
    onclick: async () => {
      if (name === "remove" && !window.confirm(`Stop polling ${f.url} for good? Its articles and edits are kept.`)) return;
      try {
        const path = name === "remove" ? `/api/feeds/${f.id}` : `/api/feeds/${f.id}/${name}`;
        await api(path, { method, auth: true, body: name === "remove" ? undefined : {} });
        say(`feed #${f.id}: ${name}d`);
      } catch (err) { say(`${name} feed #${f.id} failed: ${err.message}`, "error"); }
      loadFeeds();
    } }, name);
  document.getElementById("feed-rows").replaceChildren(...data.items.map((f) =>
    el("tr", { dataset: { feedId: f.id } },
      el("td", {}, f.id), el("td", {}, badge(f.health)),
      el("td", {}, el("div", {}, f.title || ""), el("div", { class: "muted" }, f.url)),
      el("td", {}, Number(f.trust).toFixed(2)), el("td", {}, f.articles), el("td", {}, f.error_count),
      el("td", { class: "muted" }, when(f.last_checked_at)), el("td", { class: "muted" }, when(f.next_check_at)),
      el("td", { class: "muted" }, f.paused_reason || f.last_error || ""),
      el("td", {}, f.status === "paused" ? feedAction(f, "resume") : feedAction(f, "pause"), " ",
         feedAction(f, "remove", "DELETE")))));
}

// ------------------------------------------------------------------ held claims

async function loadClaims() {
  let data;
  try {
    data = await api("/api/claims/held");
  } catch (err) {
    say(`cannot load claims: ${err.message}`, "error");
    return;
  }
  document.getElementById("claim-rows").replaceChildren(...data.items.map((c) =>
    el("tr", {}, el("td", {}, c.id), el("td", {}, c.subject),
      el("td", { title: c.relation }, c.relation_label || c.relation), el("td", {}, c.object),
      el("td", {}, c.domain_count), el("td", {}, badge(c.rule)),
      el("td", { class: "muted" }, c.why || ""), el("td", { class: "muted" }, when(c.last_seen)))));
}

// ------------------------------------------------------------------ checkpoints

async function loadCheckpoints() {
  let data;
  try {
    data = await api("/api/checkpoints");
  } catch (err) {
    say(`cannot load checkpoints: ${err.message}`, "error");
    return;
  }
  document.getElementById("checkpoint-rows").replaceChildren(...data.items.map((c) =>
    el("tr", {}, el("td", {}, c.id), el("td", {}, badge(c.status)), el("td", {}, c.path),
      el("td", {}, c.parent_id ?? "—"), el("td", {}, (c.edits_distilled || []).length),
      el("td", { class: "muted" }, JSON.stringify(c.gate_metrics || {})), el("td", { class: "muted" }, when(c.created_at)))));
}

// ------------------------------------------------------------------ wiring

function showTab(name) {
  for (const tab of document.querySelectorAll(".tab")) tab.classList.toggle("active", tab.dataset.tab === name);
  for (const panel of document.querySelectorAll(".panel")) panel.hidden = panel.id !== name;
  ({ edits: loadEdits, claims: loadClaims, feeds: loadFeeds, checkpoints: loadCheckpoints })[name]();
}

document.addEventListener("DOMContentLoaded", () => {
  for (const tab of document.querySelectorAll(".tab")) tab.addEventListener("click", () => showTab(tab.dataset.tab));
  document.getElementById("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const input = document.getElementById("token");
    if (input.value) sessionStorage.setItem("memoird-token", input.value);
    else sessionStorage.removeItem("memoird-token");
    input.value = "";
    showTokenState();
  });
  const filters = document.getElementById("edit-filters");
  filters.addEventListener("submit", (ev) => {
    ev.preventDefault();
    state.filters = Object.fromEntries(new FormData(filters).entries());
    state.offset = 0;
    loadEdits();
  });
  filters.addEventListener("reset", () => { state.filters = {}; state.offset = 0; setTimeout(loadEdits); });
  document.getElementById("prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - PAGE); loadEdits(); });
  document.getElementById("next").addEventListener("click", () => { state.offset += PAGE; loadEdits(); });
  const add = document.getElementById("feed-add");
  add.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const form = Object.fromEntries(new FormData(add).entries());
    try {
      const feed = await api("/api/feeds", { method: "POST", auth: true,
        body: { url: form.url, title: form.title || null, trust: Number(form.trust || 0.5) } });
      say(`added feed #${feed.id}`);
      add.reset();
    } catch (err) { say(`cannot add the feed: ${err.message}`, "error"); }
    loadFeeds();
  });
  showTokenState();
  loadStatus();
  loadEdits();
  setInterval(loadStatus, 15000);
});
