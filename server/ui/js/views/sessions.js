// Sessions: a live table. `sessions.list` pages (cursor / nextCursor, a "more" button), filters
// by agent and user (kept in the URL), live rows from the session lifecycle events
// (`session.created/updated/deleted`) and the running badge from `agent` events, both from the
// app's `*` subscription. Cost and tokens per session come from `sessions.get`.

import { h, setText, setChildren, fmtNum, fmtAgo, fmtTime, fmtCost, frameScheduler, refreshTimes, errText } from "../dom.js";
import { sessionHref } from "../router.js";

const PAGE = 50;
const DETAIL_CONCURRENCY = 4;
const RUNNING = new Set(["queued", "started"]);

export function mount(ctx, root, route) {
  const { gw } = ctx;
  document.title = "Sessions · Switchboard";

  let filters = readFilters(route);
  const rows = new Map(); // id -> session (+ usage)
  let order = []; // ids, most recently updated first
  let nextCursor = null;
  let loadGeneration = 0;
  let loading = false;
  let alive = true;
  const dirty = new Set();
  let orderDirty = true;
  const rowEls = new Map(); // id -> {el, cells}

  // ---- elements ----
  const agentInput = h("input.input", {
    id: "filter-agent",
    testid: "filter-agent",
    type: "search",
    placeholder: "any agent",
    attrs: { list: "agent-options", autocomplete: "off", spellcheck: "false" },
  });
  const userInput = h("input.input", {
    id: "filter-user",
    testid: "filter-user",
    type: "search",
    placeholder: "any user",
    attrs: { autocomplete: "off", spellcheck: "false" },
  });
  agentInput.value = filters.agent;
  userInput.value = filters.user;
  const agentOptions = h("datalist#agent-options");
  const clear = h("button.btn.btn-quiet", { type: "button" }, "Clear filters");
  const summary = h("p.muted.small", { attrs: { role: "status", "aria-live": "polite" } });
  const error = h("p.notice.notice-error", { attrs: { role: "alert" }, hidden: true });
  const tbody = h("div.trows", { attrs: { role: "rowgroup" } });
  const empty = h("div.empty", { hidden: true });
  const more = h("button.btn", { type: "button", testid: "sessions-more", hidden: true }, "Load more sessions");
  const table = h(
    "div.ttable.sessions-table",
    { testid: "sessions-table", attrs: { role: "table", "aria-label": "Sessions" } },
    h(
      "div.thead",
      { attrs: { role: "rowgroup" } },
      h(
        "div.trow.trow-head",
        { attrs: { role: "row" } },
        ["Title", "Agent", "User", "Status", "Messages", "Updated", "Usage"].map((t) =>
          h(`span.tcell.col-${t.toLowerCase()}`, { attrs: { role: "columnheader" } }, t),
        ),
      ),
    ),
    tbody,
  );

  root.append(
    h(
      "section.page",
      h("div.page-head", h("h1", "Sessions"), summary),
      h(
        "form.filters",
        { attrs: { role: "search", "aria-label": "Filter sessions" }, on: { submit: (e) => { e.preventDefault(); applyFilters(); } } },
        h("label.field", h("span", "Agent"), agentInput),
        h("label.field", h("span", "User"), userInput),
        agentOptions,
        clear,
      ),
      error,
      table,
      empty,
      h("div.more-row", more),
    ),
  );

  // ---- filters ----
  let filterTimer = 0;
  const onFilterInput = () => {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(applyFilters, 300);
  };
  agentInput.addEventListener("input", onFilterInput);
  userInput.addEventListener("input", onFilterInput);
  agentInput.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      applyFilters();
    }
  });
  userInput.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      applyFilters();
    }
  });
  clear.addEventListener("click", () => {
    agentInput.value = "";
    userInput.value = "";
    applyFilters();
  });

  function applyFilters() {
    clearTimeout(filterTimer);
    const next = { agent: agentInput.value.trim(), user: userInput.value.trim() };
    if (next.agent === filters.agent && next.user === filters.user) return;
    filters = next;
    const q = new URLSearchParams();
    if (filters.agent) q.set("agent", filters.agent);
    if (filters.user) q.set("user", filters.user);
    const hash = `#/sessions${q.toString() ? `?${q}` : ""}`;
    // The URL follows the filters (shareable) without re-mounting the view.
    window.history.replaceState(null, "", hash);
    reload();
  }

  const matches = (s) =>
    (!filters.agent || s.agentId === filters.agent) && (!filters.user || s.userId === filters.user);

  // ---- data ----
  async function loadPage(cursor) {
    const generation = loadGeneration;
    loading = true;
    more.disabled = true;
    const params = { limit: PAGE };
    if (filters.agent) params.agentId = filters.agent;
    if (filters.user) params.userId = filters.user;
    if (cursor) params.cursor = cursor;
    try {
      const res = await gw.call("sessions.list", params);
      if (!alive || generation !== loadGeneration) return;
      error.hidden = true;
      for (const s of res.sessions || []) upsert(s, { fromList: true });
      nextCursor = res.nextCursor || null;
      for (const s of res.sessions || []) wantDetail(s.id);
    } catch (e) {
      if (!alive || generation !== loadGeneration) return;
      if (e.code !== "DISCONNECTED") {
        setText(error, `Could not list sessions: ${errText(e)}`);
        error.hidden = false;
      }
    } finally {
      if (generation === loadGeneration) {
        loading = false;
        more.disabled = false;
        schedule();
      }
    }
  }

  function reload() {
    loadGeneration += 1;
    rows.clear();
    order = [];
    nextCursor = null;
    detailQueue.clear();
    for (const { el } of rowEls.values()) el.remove();
    rowEls.clear();
    orderDirty = true;
    schedule();
    loadPage(null);
  }

  function upsert(s, { fromList = false } = {}) {
    const prev = rows.get(s.id);
    const merged = { ...prev, ...s };
    if (prev && !fromList && s.running === undefined) merged.running = prev.running;
    if (prev && prev.updatedAt > merged.updatedAt) merged.updatedAt = prev.updatedAt;
    rows.set(s.id, merged);
    if (!prev || prev.updatedAt !== merged.updatedAt) orderDirty = true;
    dirty.add(s.id);
    schedule();
  }

  function remove(id) {
    if (!rows.has(id)) return;
    rows.delete(id);
    const r = rowEls.get(id);
    if (r) r.el.remove();
    rowEls.delete(id);
    orderDirty = true;
    schedule();
  }

  // sessions.get per row, for usage and cost (and a fresh running state).
  const detailQueue = new Set();
  let detailActive = 0;
  function wantDetail(id) {
    detailQueue.add(id);
    pumpDetails();
  }
  function pumpDetails() {
    while (alive && detailActive < DETAIL_CONCURRENCY && detailQueue.size && gw.state === "live") {
      const id = detailQueue.values().next().value;
      detailQueue.delete(id);
      if (!rows.has(id)) continue;
      detailActive += 1;
      const generation = loadGeneration;
      gw.call("sessions.get", { sessionId: id })
        .then((d) => {
          if (!alive || generation !== loadGeneration || !rows.has(id)) return;
          const prev = rows.get(id);
          rows.set(id, {
            ...prev,
            title: d.title,
            messageCount: d.messageCount,
            running: d.running,
            activeRunId: d.activeRunId,
            queuedRuns: d.queuedRuns,
            usage: d.usage,
            lastSeq: d.lastSeq,
            updatedAt: Math.max(prev.updatedAt || 0, d.updatedAt || 0),
          });
          if ((prev.updatedAt || 0) < (d.updatedAt || 0)) orderDirty = true;
          dirty.add(id);
          schedule();
        })
        .catch((e) => {
          if (e.code === "NOT_FOUND") remove(id);
        })
        .finally(() => {
          detailActive -= 1;
          pumpDetails();
        });
    }
  }

  // ---- live ----
  const offEvent = gw.on("event", (name, p) => {
    switch (name) {
      case "session.created":
      case "session.updated":
        if (rows.has(p.id) || matches(p)) {
          upsert(p);
          wantDetail(p.id);
        }
        break;
      case "session.deleted":
        remove(p.id || p.sessionId);
        break;
      case "agent": {
        const s = rows.get(p.sessionId);
        if (!s) break;
        const running = RUNNING.has(p.status);
        if (running && !s.running) {
          rows.set(p.sessionId, { ...s, running: true });
          dirty.add(p.sessionId);
          schedule();
        } else if (!running) {
          // Another run may be queued behind this one: ask.
          wantDetail(p.sessionId);
        }
        break;
      }
      default:
        break;
    }
  });

  // ---- render ----
  const schedule = frameScheduler(flush);

  function flush() {
    if (!alive) return;
    if (orderDirty) {
      order = [...rows.keys()].sort((a, b) => (rows.get(b).updatedAt || 0) - (rows.get(a).updatedAt || 0));
    }
    for (const id of dirty) {
      const s = rows.get(id);
      if (!s) continue;
      let r = rowEls.get(id);
      if (!r) {
        r = makeRow(id);
        rowEls.set(id, r);
        orderDirty = true;
      }
      fillRow(r, s);
    }
    dirty.clear();
    if (orderDirty) {
      let prev = null;
      for (const id of order) {
        const r = rowEls.get(id);
        if (!r) continue;
        const want = prev ? prev.nextSibling : tbody.firstChild;
        if (want !== r.el) tbody.insertBefore(r.el, want);
        prev = r.el;
      }
      orderDirty = false;
    }
    const n = rows.size;
    empty.hidden = n > 0 || loading;
    if (!empty.hidden) {
      const filtered = filters.agent || filters.user;
      setText(
        empty,
        filtered
          ? "No sessions match these filters."
          : "No sessions yet. They appear here live as soon as someone starts a chat.",
      );
    }
    table.hidden = n === 0;
    more.hidden = !nextCursor;
    const running = [...rows.values()].filter((s) => s.running).length;
    const parts = [`${fmtNum(n)} session${n === 1 ? "" : "s"} shown`];
    if (running) parts.push(`${fmtNum(running)} running`);
    if (nextCursor) parts.push("more available");
    if (loading) parts.push("loading…");
    setText(summary, parts.join(" · "));
  }

  function makeRow(id) {
    const cell = (cls, label) => h(`span.tcell.${cls}`, { attrs: { role: "cell" }, data: { label } });
    const cells = {
      title: cell("col-title", "Title"),
      agent: cell("col-agent", "Agent"),
      user: cell("col-user", "User"),
      status: cell("col-status", "Status"),
      messages: cell("col-messages", "Messages"),
      updated: cell("col-updated", "Updated"),
      usage: cell("col-usage", "Usage"),
    };
    const el = h(
      "a.trow",
      { href: sessionHref(id), testid: "session-row", data: { sessionId: id }, attrs: { role: "row" } },
      Object.values(cells),
    );
    return { el, cells, last: "" };
  }

  function fillRow(r, s) {
    const key = JSON.stringify([s.title, s.agentId, s.userId, s.running, s.queuedRuns, s.messageCount, s.updatedAt, s.usage]);
    if (key === r.last) return;
    r.last = key;
    const { cells } = r;
    cells.title.replaceChildren(
      h("span.title-text", s.title || "(untitled)"),
      h("span.mono.muted.small.row-id", s.id),
    );
    setText(cells.agent, s.agentId);
    setText(cells.user, s.userId);
    setChildren(cells.status,
      s.running
        ? h("span.badge.badge-running", { testid: "running" }, h("span.pulse", { attrs: { "aria-hidden": "true" } }), "running")
        : h("span.badge.badge-quiet", "idle"),
      s.queuedRuns ? h("span.badge.badge-quiet", `${s.queuedRuns} queued`) : null,
    );
    setText(cells.messages, fmtNum(s.messageCount));
    cells.updated.replaceChildren(
      h("time.rel-time", { data: { ms: s.updatedAt }, title: fmtTime(s.updatedAt) }, fmtAgo(s.updatedAt)),
    );
    if (s.usage) {
      const tokens = (s.usage.input_tokens || 0) + (s.usage.output_tokens || 0);
      const cost = typeof s.usage.cost === "number" && s.usage.cost > 0 ? fmtCost(s.usage.cost) : "";
      setChildren(cells.usage, cost ? h("span.cost", cost) : null, h("span.muted.small", `${fmtNum(tokens)} tokens`));
      cells.usage.title = `${fmtNum(s.usage.input_tokens)} tokens in, ${fmtNum(s.usage.output_tokens)} out${cost ? `, ${cost}` : ""}`;
    } else {
      setText(cells.usage, "…");
    }
  }

  more.addEventListener("click", () => {
    if (nextCursor && !loading) loadPage(nextCursor);
  });

  const clock = setInterval(() => refreshTimes(tbody), 15000);

  // Agent names for the filter's suggestions.
  gw.call("agents.list")
    .then((res) => {
      if (!alive) return;
      agentOptions.replaceChildren(...(res.agents || []).map((a) => h("option", { value: a.id })));
    })
    .catch(() => {});

  reload();

  return {
    onReady() {
      // After a reconnect: read the first page again (merged by id) and refresh what we show.
      loadGeneration += 1;
      loadPage(null);
      for (const id of rows.keys()) detailQueue.add(id);
      pumpDetails();
    },
    onRoute(next) {
      const f = readFilters(next);
      if (f.agent === filters.agent && f.user === filters.user) return;
      agentInput.value = f.agent;
      userInput.value = f.user;
      applyFilters();
    },
    unmount() {
      alive = false;
      offEvent();
      schedule.cancel();
      clearInterval(clock);
      clearTimeout(filterTimer);
    },
  };
}

function readFilters(route) {
  const p = route && route.params ? route.params : new URLSearchParams();
  return { agent: (p.get("agent") || "").trim(), user: (p.get("user") || "").trim() };
}
