// Session: the transcript from `chat.history`, then the live stream.
//
// Correctness (never an event twice, never one missing, across reconnects and reloads):
// - `sessions.get` gives lastSeq L; `chat.history` the complete messages; then
//   `subscribe {topic:"session:<id>", afterSeq}`, afterSeq being L minus a short tail (so the
//   tool calls of the latest runs show too), and after a reconnect the highest sessionSeq
//   applied. Events are applied strictly in sessionSeq order: older ones are dropped, newer ones
//   wait until the gap fills (live events of the app's `*` subscription can overtake a replay).
// - Messages are keyed by (runId, role): an upsert, never an append of a duplicate. A `chat`
//   event's `chunk` is the whole reply so far, so the reply's text is set to it. A reply read
//   from `chat.history` is final and wins. On a run's start and end the run's messages are
//   read again from `chat.history` (coalesced).
// - Rendering is batched per animation frame and capped to the last RENDER_STEP entries
//   ("load older" shows more), so 10 000 events do not freeze the tab.

import {
  h,
  setText,
  setChildren,
  fmtJson,
  jsonPreview,
  fmtUsage,
  fmtTime,
  fmtAgo,
  fmtNum,
  frameScheduler,
  refreshTimes,
  errText,
} from "../dom.js";
import { approvalCard } from "../approval.js";
import { confirmDialog } from "../dialog.js";
import { navigate } from "../router.js";
import { statusOf } from "../store.js";

const HISTORY_PAGE = 200;
const REFRESH_PAGE = 60;
const REFRESH_DELAY_MS = 250;
const REFRESH_MAX_PAGES = 10;
const TAIL_EVENTS = 500;
const RENDER_STEP = 500;
const MAX_BUFFER = 50000;
const GAP_TIMEOUT_MS = 5000;
const MAX_TOOL_OUTPUT = 65536;
const LIVE_STATUSES = new Set(["queued", "started"]);
const STATUS_TEXT = {
  queued: "queued",
  started: "running",
  completed: "completed",
  failed: "failed",
  aborted: "aborted",
  timeout: "timed out",
  idle: "idle",
};

/** One approval from two sources (its events, the app's store): a decision is never undone by
 * a stale "pending". `null` when nothing changes. */
function mergeApproval(prev, next) {
  const prevStatus = prev ? statusOf(prev) : null;
  const nextStatus = statusOf(next);
  if (prevStatus && prevStatus !== "pending" && nextStatus === "pending") return null;
  const merged = { ...prev };
  for (const [k, v] of Object.entries(next)) if (v !== undefined) merged[k] = v;
  merged.status = nextStatus;
  if (prev && prevStatus === nextStatus && prev.resolvedBy === merged.resolvedBy && prev.reason === merged.reason) {
    return null;
  }
  if (!merged.createdAt && next.ts) merged.createdAt = next.ts;
  return merged;
}

export function mount(ctx, root, route) {
  const { gw, approvals } = ctx;
  const sessionId = route.id;
  document.title = "Session · Switchboard";

  // ---- model ----
  let detail = null;
  let initialized = false;
  let initGeneration = 0;
  let initialLastSeq = 0;
  let applied = 0; // highest sessionSeq applied
  const buffer = new Map(); // sessionSeq -> [name, payload], waiting for a gap to fill
  let gapTimer = 0;
  let sub = null;
  let deleted = false;
  let alive = true;
  const runs = []; // ordered
  const runByKey = new Map();
  let structureDirty = true;
  let renderLimit = RENDER_STEP;
  let hasMoreHistory = false;
  let oldestMsgId = null;
  let following = true;
  let loadingOlder = false;

  // ---- elements ----
  const back = h("a.back", { href: "#/sessions" }, "← Sessions");
  const title = h("h1.session-title", "Loading session…");
  const meta = h("div.session-meta.muted");
  const runStatus = h("span.status-chip", { testid: "run-status", data: { status: "idle" } }, "idle");
  const usage = h("span.usage", { testid: "usage" }, "—");
  const msgCount = h("span");
  const queued = h("span.badge.badge-quiet", { hidden: true });
  const actions = h("div.btn-row.session-actions");
  const banner = h("p.notice.notice-warn", { attrs: { role: "status" }, hidden: true });
  const error = h("p.notice.notice-error", { attrs: { role: "alert" }, hidden: true });
  const olderBtn = h("button.btn.btn-quiet", { type: "button", testid: "load-older" }, "Load older messages");
  const olderRow = h("div.older-row", { hidden: true }, olderBtn);
  const emptyNote = h("p.muted.empty-transcript", { hidden: true }, "No messages yet. Replies appear here as they stream.");
  const runsEl = h("div.runs");
  const transcript = h(
    "div.transcript",
    { testid: "transcript", attrs: { role: "log", "aria-label": "Transcript", "aria-live": "off" } },
    olderRow,
    emptyNote,
    runsEl,
  );
  const jumpLive = h(
    "button.btn.btn-primary.jump-live",
    { type: "button", testid: "jump-live", hidden: true, title: "Scroll to the newest messages and follow the stream" },
    "↓ Jump to live",
  );
  const abortBtn = gw.can("chat.abort")
    ? h("button.btn.btn-danger-quiet", { type: "button", testid: "abort", hidden: true }, "Abort run")
    : null;
  const deleteBtn = gw.can("sessions.delete")
    ? h("button.btn.btn-danger-quiet", { type: "button", testid: "delete-session" }, "Delete session")
    : null;
  if (abortBtn) actions.append(abortBtn);
  if (deleteBtn) actions.append(deleteBtn);

  root.append(
    h(
      "section.page.session-page",
      h(
        "div.session-head",
        back,
        h("div.session-title-row", title, actions),
        meta,
        h(
          "dl.session-stats",
          h("div", h("dt", "Run status"), h("dd", runStatus, queued)),
          h("div", h("dt", "Usage"), h("dd", usage)),
          h("div", h("dt", "Messages"), h("dd", msgCount)),
        ),
      ),
      banner,
      error,
      transcript,
      jumpLive,
    ),
  );

  // ---- runs ----
  // Runs are kept in transcript order: by their first stored message's id (the order
  // chat.history has), and runs whose messages are not read yet (queued, just started) after
  // those, in the order they were first seen.
  let seenCounter = 0;
  let needsSort = false;
  const awaitingUser = new Set(); // live runs that started but whose user message is not read yet

  function newRun(key, runId) {
    return {
      key,
      runId: runId || null,
      order: null, // smallest message id, once read
      seen: seenCounter++,
      msgs: new Map(), // role -> {id, text, createdAt, usage, final}
      tools: new Map(), // toolCallId -> {tool, input, output, result, isError, done}
      approvals: new Map(), // approvalId -> approval
      status: null,
      error: null,
      usage: null,
      lookups: 0,
      el: null,
      parts: null,
      dirty: true,
    };
  }

  function compareRuns(a, b) {
    if (a.order !== null && b.order !== null) return a.order - b.order;
    if (a.order !== null) return -1;
    if (b.order !== null) return 1;
    return a.seen - b.seen;
  }

  function runFor(runId, { create }) {
    if (!runId) return null;
    let run = runByKey.get(runId);
    if (!run && create) {
      run = newRun(runId, runId);
      runs.push(run);
      runByKey.set(runId, run);
      structureDirty = true;
    }
    return run;
  }

  function touch(run) {
    run.dirty = true;
    schedule();
  }

  /** Upserts messages from chat.history (any page, any order). */
  function mergeHistory(messages) {
    for (const m of messages) {
      const key = m.runId || `msg:${m.id}`;
      let run = runByKey.get(key);
      if (!run) {
        run = newRun(key, m.runId);
        runs.push(run);
        runByKey.set(key, run);
        structureDirty = true;
      }
      if (run.order === null || m.id < run.order) {
        run.order = m.id;
        needsSort = true;
      }
      const prev = run.msgs.get(m.role);
      if (!prev || !prev.final || prev.text !== m.content || prev.id !== m.id) {
        run.msgs.set(m.role, {
          id: m.id,
          text: m.content,
          createdAt: m.createdAt,
          usage: m.usage || (prev && prev.usage) || null,
          final: true,
        });
        if (m.role === "assistant" && m.usage && !run.usage) run.usage = m.usage;
        run.dirty = true;
      }
      if (m.role === "user") awaitingUser.delete(run);
      if (oldestMsgId === null || m.id < oldestMsgId) oldestMsgId = m.id;
    }
    if (needsSort) structureDirty = true;
    schedule();
  }

  function sortRuns() {
    if (!needsSort) return;
    needsSort = false;
    runs.sort(compareRuns);
    structureDirty = true;
  }

  // ---- events ----
  function onSessionEvent(name, p) {
    if (name === "session.updated" || name === "session.created") {
      if (detail) {
        detail = { ...detail, title: p.title, messageCount: p.messageCount, updatedAt: p.updatedAt };
        renderHead();
      }
      return;
    }
    if (name === "session.deleted") {
      deleted = true;
      setText(banner, "This session was deleted.");
      banner.hidden = false;
      renderHead();
      return;
    }
    const seq = p.sessionSeq;
    if (typeof seq !== "number") return;
    if (!initialized) {
      if (buffer.size < MAX_BUFFER) buffer.set(seq, [name, p]);
      return;
    }
    if (seq <= applied) return; // already shown
    if (seq === applied + 1) {
      buffer.delete(seq);
      apply(name, p);
      applied = seq;
      drain();
      return;
    }
    if (buffer.size >= MAX_BUFFER) {
      resync();
      return;
    }
    buffer.set(seq, [name, p]);
    armGapTimer();
  }

  // The buffer only ever holds sequence numbers above applied + 1 (each one applied is taken
  // out of it), so what is left after draining is a real gap.
  function drain() {
    let next = buffer.get(applied + 1);
    while (next) {
      buffer.delete(applied + 1);
      apply(next[0], next[1]);
      applied += 1;
      next = buffer.get(applied + 1);
    }
    if (buffer.size) armGapTimer();
    else clearGapTimer();
  }

  function armGapTimer() {
    if (gapTimer) return;
    const at = applied;
    gapTimer = setTimeout(() => {
      gapTimer = 0;
      if (!alive || !buffer.size) return;
      if (applied === at) resync();
      else armGapTimer();
    }, GAP_TIMEOUT_MS);
  }

  function clearGapTimer() {
    clearTimeout(gapTimer);
    gapTimer = 0;
  }

  /** Subscribes again from the highest applied sessionSeq (a gap that did not fill). */
  function resync() {
    clearGapTimer();
    buffer.clear();
    if (sub) sub.close();
    sub = subscribe();
  }

  function subscribe() {
    return gw.subscribe(`session:${sessionId}`, {
      afterSeq: () => applied,
      onError: (e) => {
        if (!alive) return;
        if (e.code === "NOT_FOUND") {
          deleted = true;
          setText(banner, "This session no longer exists.");
          banner.hidden = false;
        } else {
          showError(`Could not follow the live stream: ${errText(e)}`);
        }
      },
    });
  }

  function apply(name, p) {
    const historical = p.sessionSeq <= initialLastSeq;
    // Events older than the page's history only add detail to runs already shown.
    const run = runFor(p.runId, { create: !historical });
    if (!run) return;
    switch (name) {
      case "chat": {
        const prev = run.msgs.get("assistant");
        if (prev && prev.final) return;
        const text = typeof p.chunk === "string" ? p.chunk : `${prev ? prev.text : ""}${p.delta || ""}`;
        run.msgs.set("assistant", { id: null, text, createdAt: (prev && prev.createdAt) || p.ts, usage: null, final: false });
        if (!run.status && !historical) run.status = "started";
        break;
      }
      case "agent":
        run.status = p.status;
        if (p.error) run.error = p.error;
        if (p.usage) run.usage = p.usage;
        if (!historical && (p.status === "started" || !LIVE_STATUSES.has(p.status))) {
          // Its user message joined the transcript as it started; its reply as it ended.
          if (!run.msgs.has("user")) awaitingUser.add(run);
          requestRefresh();
        }
        break;
      case "tool.call": {
        const t = run.tools.get(p.toolCallId) || { output: "", result: undefined, isError: false, done: false };
        run.tools.set(p.toolCallId, { ...t, tool: p.tool, input: p.input, at: p.ts });
        break;
      }
      case "tool.output": {
        const t = run.tools.get(p.toolCallId) || { tool: p.tool, input: undefined, output: "", done: false };
        let output = t.output + (p.output || "");
        if (output.length > MAX_TOOL_OUTPUT) output = output.slice(output.length - MAX_TOOL_OUTPUT);
        run.tools.set(p.toolCallId, { ...t, output });
        break;
      }
      case "tool.result": {
        const t = run.tools.get(p.toolCallId) || { tool: p.tool, input: undefined, output: "" };
        run.tools.set(p.toolCallId, { ...t, tool: p.tool, result: p.output, isError: Boolean(p.isError), done: true });
        break;
      }
      case "approval.requested":
      case "approval.resolved": {
        const next = { ...p, status: name === "approval.requested" ? "pending" : undefined };
        if (name === "approval.resolved") next.resolvedAt = p.ts;
        const merged = mergeApproval(run.approvals.get(p.approvalId), next);
        if (!merged) return;
        run.approvals.set(p.approvalId, merged);
        break;
      }
      case "usage":
        run.usage = { input_tokens: p.input_tokens, output_tokens: p.output_tokens, cost: p.cost };
        break;
      default:
        return;
    }
    touch(run);
    headDirty = true;
  }

  // Pending approvals of this session from the app's store (they may predate what we replay).
  function mergeStoreApprovals() {
    for (const a of approvals.forSession(sessionId)) {
      const run = runFor(a.runId, { create: initialized && a.status === "pending" });
      if (!run) continue;
      const merged = mergeApproval(run.approvals.get(a.approvalId), a);
      if (!merged) continue;
      run.approvals.set(a.approvalId, merged);
      touch(run);
    }
  }
  const offStore = approvals.on(() => {
    if (initialized) mergeStoreApprovals();
  });

  const offEvent = gw.on("event", (name, p) => {
    if (!alive) return;
    if (name === "session.deleted" || name === "session.updated" || name === "session.created") {
      if ((p.id || p.sessionId) === sessionId) onSessionEvent(name, p);
      return;
    }
    if (p.sessionId === sessionId) onSessionEvent(name, p);
  });

  // ---- history refresh (coalesced) ----
  let refreshTimer = 0;
  let refreshing = false;
  let refreshAgain = false;
  function requestRefresh() {
    if (refreshing) {
      refreshAgain = true;
      return;
    }
    if (!refreshTimer) refreshTimer = setTimeout(doRefresh, REFRESH_DELAY_MS);
  }
  async function doRefresh() {
    refreshTimer = 0;
    if (!alive || gw.state !== "live") return;
    refreshing = true;
    try {
      const detailCall = gw.call("sessions.get", { sessionId });
      // The newest page, then older ones while a started run's user message is still unread
      // (many runs may have gone by during a reconnect), at most REFRESH_MAX_PAGES.
      let before;
      for (let page = 0; page < REFRESH_MAX_PAGES; page += 1) {
        const params = { sessionId, limit: page === 0 ? REFRESH_PAGE : HISTORY_PAGE };
        if (before !== undefined) params.before = before;
        const hist = await gw.call("chat.history", params);
        if (!alive) return;
        const msgs = hist.messages || [];
        mergeHistory(msgs);
        const waiting = [...awaitingUser].filter((r) => r.lookups < 3);
        if (!waiting.length || !hist.hasMore || !msgs.length) break;
        before = msgs[0].id;
      }
      // A run whose user message three refreshes did not find stops being looked for.
      for (const r of awaitingUser) {
        r.lookups += 1;
        if (r.lookups >= 3) awaitingUser.delete(r);
      }
      detail = await detailCall;
      if (!alive) return;
      headDirty = true;
      schedule();
    } catch (e) {
      if (alive && e.code === "NOT_FOUND") {
        deleted = true;
        setText(banner, "This session no longer exists.");
        banner.hidden = false;
      }
    } finally {
      refreshing = false;
      if (refreshAgain && alive) {
        refreshAgain = false;
        requestRefresh();
      }
    }
  }

  // ---- start ----
  async function init() {
    const generation = ++initGeneration;
    try {
      const det = await gw.call("sessions.get", { sessionId });
      const hist = await gw.call("chat.history", { sessionId, limit: HISTORY_PAGE });
      if (!alive || generation !== initGeneration) return;
      detail = det;
      initialLastSeq = det.lastSeq || 0;
      applied = Math.max(0, initialLastSeq - TAIL_EVENTS);
      mergeHistory(hist.messages || []);
      hasMoreHistory = Boolean(hist.hasMore);
      initialized = true;
      error.hidden = true;
      document.title = `${det.title || det.id} · Switchboard`;
      sub = subscribe();
      mergeStoreApprovals();
      // Live events that arrived meanwhile wait in the buffer for the replay to reach them.
      for (const seq of [...buffer.keys()]) if (seq <= applied) buffer.delete(seq);
      drain();
      headDirty = true;
      schedule();
    } catch (e) {
      if (!alive || generation !== initGeneration) return;
      if (e.code === "NOT_FOUND") {
        setText(title, "Session not found");
        meta.replaceChildren(h("span", `There is no session ${sessionId}. `), h("a", { href: "#/sessions" }, "Back to the sessions"));
        transcript.hidden = true;
      } else if (e.code !== "DISCONNECTED") {
        showError(`Could not load the session: ${errText(e)}`);
      }
    }
  }

  function showError(text) {
    setText(error, text);
    error.hidden = false;
  }

  // ---- rendering ----
  let headDirty = true;
  const schedule = frameScheduler(flush);

  function entryCount(run) {
    return Math.max(1, run.msgs.size + run.tools.size + run.approvals.size);
  }

  function flush() {
    if (!alive) return;
    const t0 = performance.now();
    flushInner();
    const st = window.__sbStats;
    if (st) {
      st.flushMs = (st.flushMs || 0) + performance.now() - t0;
      st.flushes = (st.flushes || 0) + 1;
    }
  }

  function flushInner() {
    const before = following;
    sortRuns();
    // The render window: the last `renderLimit` entries.
    let start = runs.length;
    let count = 0;
    while (start > 0) {
      const c = entryCount(runs[start - 1]);
      if (count + c > renderLimit && count > 0) break;
      count += c;
      start -= 1;
    }
    if (start !== lastStart) structureDirty = true;
    if (structureDirty) {
      // Drop the DOM of runs that left the window.
      for (let i = 0; i < start; i += 1) {
        const run = runs[i];
        if (run.el) {
          run.el.remove();
          run.el = null;
          run.parts = null;
          run.dirty = true;
        }
      }
    }
    for (let i = start; i < runs.length; i += 1) {
      const run = runs[i];
      if (!run.el) {
        buildRun(run);
        structureDirty = true;
      }
      if (run.dirty) fillRun(run);
    }
    if (structureDirty) {
      let prev = null;
      for (let i = start; i < runs.length; i += 1) {
        const el = runs[i].el;
        const want = prev ? prev.nextSibling : runsEl.firstChild;
        if (want !== el) runsEl.insertBefore(el, want);
        prev = el;
      }
      structureDirty = false;
    }
    lastStart = start;
    olderRow.hidden = !(start > 0 || hasMoreHistory);
    olderBtn.disabled = loadingOlder;
    setText(olderBtn, loadingOlder ? "Loading…" : start > 0 ? `Show older (${fmtNum(start)} more runs loaded)` : "Load older messages");
    emptyNote.hidden = !initialized || runs.length > 0;
    if (headDirty) renderHead();
    if (before && following) scrollToEnd();
  }
  let lastStart = 0;

  function buildRun(run) {
    const el = h("section.run", { data: { runId: run.runId || "" } });
    const foot = h("footer.run-foot");
    run.parts = { msgs: new Map(), tools: new Map(), approvals: new Map(), foot, body: h("div.run-items") };
    el.append(run.parts.body, foot);
    run.el = el;
    run.dirty = true;
  }

  function messageEl(role, runId) {
    const text = h("div.msg-text", { testid: "message-text" });
    const who = h("span.msg-role", role === "assistant" ? "assistant" : role);
    const when = h("time.msg-time.muted");
    const el = h(
      `article.msg.msg-${role.replace(/\W/g, "")}`,
      { testid: "message", data: { role, runId: runId || "" } },
      h("header.msg-head", who, when),
      text,
    );
    return { el, text, when, last: null };
  }

  function toolEl(id) {
    const name = h("span.tool-name");
    const preview = h("span.tool-preview.mono");
    const state = h("span.badge");
    const input = h("pre.json");
    const output = h("pre.json.tool-output");
    const outputBox = h("div.tool-section", { hidden: true }, h("h4", "Output (streamed)"), output);
    const result = h("pre.json");
    const resultBox = h("div.tool-section", { hidden: true }, h("h4", "Result"), result);
    const el = h(
      "details.tool",
      { testid: "tool-call", data: { toolCallId: id } },
      h("summary", h("span.tool-icon", { attrs: { "aria-hidden": "true" } }, "⚙"), name, preview, state),
      h("div.tool-body", h("div.tool-section", h("h4", "Input"), input), outputBox, resultBox),
    );
    return { el, name, preview, state, input, output, outputBox, result, resultBox, last: null };
  }

  function fillRun(run) {
    run.dirty = false;
    const { parts } = run;
    const want = [];
    // user message(s) first, then tools and approvals, then the reply, then any other role.
    const roles = [...run.msgs.keys()].sort((a, b) => roleRank(a) - roleRank(b));
    const pushMsg = (role) => {
      const m = run.msgs.get(role);
      let p = parts.msgs.get(role);
      if (!p) {
        p = messageEl(role, run.runId);
        parts.msgs.set(role, p);
      }
      if (p.last !== m) {
        p.last = m;
        setText(p.text, m.text);
        if (m.createdAt) {
          setText(p.when, fmtAgo(m.createdAt));
          p.when.title = fmtTime(m.createdAt);
          p.when.dataset.ms = String(m.createdAt);
          p.when.classList.add("rel-time");
        }
        const streaming = role === "assistant" && !m.final && LIVE_STATUSES.has(run.status || "started");
        p.el.classList.toggle("streaming", streaming);
      }
      want.push(p.el);
    };
    for (const role of roles) if (roleRank(role) === 0) pushMsg(role);
    for (const [id, t] of run.tools) {
      let p = parts.tools.get(id);
      if (!p) {
        p = toolEl(id);
        parts.tools.set(id, p);
      }
      if (p.last !== t) {
        p.last = t;
        setText(p.name, t.tool || "tool");
        setText(p.preview, jsonPreview(t.input, 60));
        const st = t.done ? (t.isError ? "error" : "ok") : "running";
        p.state.className = `badge tool-${st}`;
        setText(p.state, st);
        setText(p.input, fmtJson(t.input));
        p.outputBox.hidden = !t.output;
        if (t.output) setText(p.output, t.output);
        p.resultBox.hidden = !t.done;
        if (t.done) setText(p.result, fmtJson(t.result));
      }
      want.push(p.el);
    }
    for (const [id, a] of run.approvals) {
      let p = parts.approvals.get(id);
      if (!p) {
        p = approvalCard(ctx, a);
        parts.approvals.set(id, p);
      } else {
        p.update(a);
      }
      want.push(p.el);
    }
    for (const role of roles) if (roleRank(role) === 1) pushMsg(role);
    for (const role of roles) if (roleRank(role) === 2) pushMsg(role);
    // Place the children in order (moves only what is out of place).
    let prev = null;
    for (const el of want) {
      const at = prev ? prev.nextSibling : parts.body.firstChild;
      if (at !== el) parts.body.insertBefore(el, at);
      prev = el;
    }
    // Run footer: status, usage, error.
    const bits = [];
    const status = run.status;
    if (status) {
      bits.push(h(`span.status-chip.status-${status}`, STATUS_TEXT[status] || status));
    }
    if (run.usage) bits.push(h("span.run-usage", fmtUsage(run.usage)));
    if (run.error) bits.push(h("span.run-error", run.error));
    if (status === "started" && !run.msgs.has("assistant") && ![...run.tools.values()].some((t) => !t.done)) {
      bits.push(h("span.thinking.muted", "working…"));
    }
    const footKey = bits.map((b) => `${b.className}:${b.textContent}`).join("|");
    if (footKey !== parts.footKey) {
      parts.footKey = footKey;
      parts.foot.replaceChildren(...bits);
      parts.foot.hidden = bits.length === 0;
    }
    run.el.dataset.status = status || "";
  }

  function roleRank(role) {
    if (role === "user") return 0;
    if (role === "assistant") return 1;
    return 2;
  }

  function currentStatus() {
    for (let i = runs.length - 1; i >= 0; i -= 1) {
      if (runs[i].status) {
        const s = runs[i].status;
        // A run that ended while another is waiting: the session is still busy.
        if (!LIVE_STATUSES.has(s) && detail && detail.running) return "started";
        return s;
      }
    }
    if (detail && detail.running) return "started";
    return "idle";
  }

  let lastMetaKey = "";
  function renderHead() {
    headDirty = false;
    if (!detail) return;
    setText(title, detail.title || "(untitled)");
    const metaKey = [detail.agentId, detail.userId, detail.id, detail.createdAt, detail.key].join("|");
    if (metaKey !== lastMetaKey) {
      lastMetaKey = metaKey;
      setChildren(meta,
      h("span", "agent ", h("strong", detail.agentId)),
      " · ",
      h("span", "user ", h("strong", detail.userId)),
      " · ",
      h("span.mono", detail.id),
      " · ",
      h("span", "created ", h("time", { title: fmtTime(detail.createdAt) }, fmtAgo(detail.createdAt))),
      detail.key ? h("span", " · key ", h("span.mono", detail.key)) : null,
      );
    }
    const st = deleted ? "idle" : currentStatus();
    runStatus.dataset.status = st;
    runStatus.className = `status-chip status-${st}`;
    setText(runStatus, deleted ? "deleted" : STATUS_TEXT[st] || st);
    const q = detail.queuedRuns || 0;
    queued.hidden = q === 0;
    setText(queued, `${q} queued`);
    setText(usage, fmtUsage(detail.usage));
    setText(msgCount, fmtNum(detail.messageCount));
    if (abortBtn) abortBtn.hidden = deleted || !(st === "started" || st === "queued");
    if (deleteBtn) deleteBtn.hidden = deleted;
  }

  // ---- scrolling: follow the stream while at the bottom; "jump to live" otherwise ----
  function atBottom() {
    const doc = document.documentElement;
    return window.innerHeight + window.scrollY >= doc.scrollHeight - 120;
  }
  function scrollToEnd() {
    window.scrollTo(0, document.documentElement.scrollHeight);
  }
  const onScroll = () => {
    if (!initialized) return; // the view's own first scroll to the top, before any content
    const bottom = atBottom();
    if (bottom !== following) {
      following = bottom;
      jumpLive.hidden = following;
    }
  };
  window.addEventListener("scroll", onScroll, { passive: true });
  // Growth that is not ours to see in flush (a reply's text wrapping anew, a tool opened)
  // keeps the view at the end while following.
  const resizeObserver = new ResizeObserver(() => {
    if (following && alive) scrollToEnd();
  });
  resizeObserver.observe(runsEl);
  jumpLive.addEventListener("click", () => {
    following = true;
    jumpLive.hidden = true;
    scrollToEnd();
    transcript.focus({ preventScroll: true });
  });
  transcript.tabIndex = -1;

  // ---- controls ----
  olderBtn.addEventListener("click", async () => {
    if (lastStart > 0) {
      renderLimit += RENDER_STEP;
      following = false;
      schedule();
      return;
    }
    if (!hasMoreHistory || loadingOlder || oldestMsgId === null) return;
    loadingOlder = true;
    schedule();
    try {
      const hist = await gw.call("chat.history", { sessionId, limit: HISTORY_PAGE, before: oldestMsgId });
      if (!alive) return;
      const msgs = hist.messages || [];
      hasMoreHistory = Boolean(hist.hasMore);
      renderLimit += msgs.length;
      following = false;
      mergeHistory(msgs);
    } catch (e) {
      if (alive && e.code !== "DISCONNECTED") showError(`Could not load older messages: ${errText(e)}`);
    } finally {
      loadingOlder = false;
      schedule();
    }
  });

  if (abortBtn) {
    abortBtn.addEventListener("click", async () => {
      abortBtn.disabled = true;
      try {
        await gw.call("chat.abort", { sessionId });
      } catch (e) {
        if (e.code !== "DISCONNECTED") showError(`Could not abort: ${errText(e)}`);
      } finally {
        abortBtn.disabled = false;
      }
    });
  }
  if (deleteBtn) {
    deleteBtn.addEventListener("click", async () => {
      const ok = await confirmDialog({
        title: "Delete this session?",
        body: "Its messages and events are deleted for everyone. This cannot be undone.",
        confirmText: "Delete session",
        danger: true,
      });
      if (!ok || !alive) return;
      try {
        await gw.call("sessions.delete", { sessionId });
        navigate("#/sessions");
      } catch (e) {
        if (e.code !== "DISCONNECTED") showError(`Could not delete: ${errText(e)}`);
      }
    });
  }

  const clock = setInterval(() => {
    refreshTimes(runsEl);
  }, 15000);

  init();

  return {
    onReady() {
      // The subscription itself resumes from `applied` (the client re-sends it); here: what a
      // stream cannot tell — messages and totals written while we were away.
      if (!initialized) init();
      else requestRefresh();
    },
    unmount() {
      alive = false;
      offEvent();
      offStore();
      if (sub) sub.close();
      schedule.cancel();
      clearGapTimer();
      clearTimeout(refreshTimer);
      clearInterval(clock);
      window.removeEventListener("scroll", onScroll);
      resizeObserver.disconnect();
    },
  };
}
