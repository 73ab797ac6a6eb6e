// Overview: `status` every 2 s (version, uptime, nodes, connections by role, sessions,
// active/queued runs, store) and the events received per second over the last minute as a
// small SVG line chart, fed by the app's `*` subscription. Plus the latest events as a feed.

import { h, svg, setText, fmtDuration, fmtNum, fmtAgo, fmtClock, errText } from "../dom.js";
import { sessionHref } from "../router.js";

const POLL_MS = 2000;
const FEED_MAX = 12;

export function mount(ctx, root) {
  const { gw, rate, approvals } = ctx;
  document.title = "Overview · Switchboard";

  const stat = (name, label) => {
    const value = h("div.stat-value", { testid: `stat-${name}` }, "—");
    const sub = h("div.stat-sub.muted");
    const card = h("div.stat", h("div.stat-label", label), value, sub);
    return { card, value, sub };
  };
  const stats = {
    version: stat("version", "Version"),
    uptime: stat("uptime", "Uptime"),
    connections: stat("connections", "Connections"),
    sessions: stat("sessions", "Sessions"),
    activeRuns: stat("active-runs", "Active runs"),
    queuedRuns: stat("queued-runs", "Queued runs"),
    store: stat("store", "Store"),
    nodes: stat("nodes", "Nodes"),
  };
  const error = h("p.notice.notice-error", { attrs: { role: "alert" }, hidden: true });
  const updated = h("span.muted.small");

  const chart = new RateChart();
  const epsNow = h("span.eps-now", "0");
  const epsTotal = h("span.muted.small");
  const pendingLink = h("a", { href: "#/approvals" });
  const feed = h("ol.feed", { attrs: { "aria-label": "Latest events" } });
  const nodesTable = h("div.nodes");

  root.append(
    h(
      "section.page",
      { testid: "overview" },
      h("div.page-head", h("h1", "Overview"), updated),
      error,
      h("div.stats", Object.values(stats).map((s) => s.card)),
      h(
        "div.grid-2",
        h(
          "section.panel.panel-chart",
          h(
            "div.panel-head",
            h("h2", "Events per second"),
            h("div.eps", epsNow, h("span.muted", " /s now"), " ", epsTotal),
          ),
          chart.el,
          h("p.muted.small", "Events this page received on the * topic, per second, over the last 60 s."),
        ),
        h(
          "section.panel",
          h("div.panel-head", h("h2", "Latest events"), pendingLink),
          feed,
        ),
      ),
      h("section.panel", h("div.panel-head", h("h2", "Nodes")), nodesTable),
    ),
  );

  let alive = true;
  let timer = 0;
  let inFlight = false;
  const feedItems = [];

  const poll = async () => {
    if (!alive || inFlight || gw.state !== "live") return;
    inFlight = true;
    try {
      const s = await gw.call("status");
      if (!alive) return;
      error.hidden = true;
      render(s);
    } catch (e) {
      if (alive && e.code !== "DISCONNECTED") {
        setText(error, `Could not read the status: ${errText(e)}`);
        error.hidden = false;
      }
    } finally {
      inFlight = false;
    }
  };

  const render = (s) => {
    setText(stats.version.value, s.version);
    setText(stats.version.sub, s.nodeId ? `node ${s.nodeId}` : "");
    setText(stats.uptime.value, fmtDuration(s.uptime_s));
    const byRole = Object.entries(s.connectionsByRole || {})
      .filter(([, n]) => n > 0)
      .map(([role, n]) => `${role} ${fmtNum(n)}`)
      .join(" · ");
    setText(stats.connections.value, `${fmtNum(s.connections)}${byRole ? ` — ${byRole}` : ""}`);
    setText(stats.connections.sub, `${fmtNum(s.subscriptions)} subscription${s.subscriptions === 1 ? "" : "s"}`);
    setText(stats.sessions.value, fmtNum(s.sessions));
    setText(stats.sessions.sub, `${fmtNum(s.agents)} agent${s.agents === 1 ? "" : "s"}`);
    setText(stats.activeRuns.value, fmtNum(s.activeRuns));
    setText(stats.queuedRuns.value, fmtNum(s.queuedRuns));
    setText(stats.store.value, s.store);
    const nodes = Array.isArray(s.nodes) ? s.nodes : [];
    setText(stats.nodes.value, fmtNum(nodes.length || 1));
    setText(stats.nodes.sub, nodes.length > 1 ? "cluster" : "single node");
    setText(updated, `updated ${fmtClock(Date.now())}`);
    renderNodes(nodes, s);
  };

  const renderNodes = (nodes, s) => {
    const list = nodes.length
      ? nodes
      : [{ nodeId: s.nodeId, this: true, self: true, connections: s.connections, activeRuns: s.activeRuns, queuedRuns: s.queuedRuns, subscriptions: s.subscriptions }];
    const table = h(
      "table.table.compact",
      h(
        "thead",
        h("tr", ["Node", "Connections", "Active runs", "Queued runs", "Subscriptions", "Last heartbeat"].map((t) => h("th", { scope: "col" }, t))),
      ),
      h(
        "tbody",
        list.map((n) =>
          h(
            "tr",
            h("td", { data: { label: "Node" } }, h("div", h("span.mono", n.nodeId || "—"), n.self ? h("span.badge.badge-quiet", "this node") : null)),
            h("td", { data: { label: "Connections" } }, fmtNum(n.connections)),
            h("td", { data: { label: "Active runs" } }, fmtNum(n.activeRuns)),
            h("td", { data: { label: "Queued runs" } }, fmtNum(n.queuedRuns)),
            h("td", { data: { label: "Subscriptions" } }, fmtNum(n.subscriptions)),
            h("td", { data: { label: "Last heartbeat" } }, n.seenAt ? fmtAgo(n.seenAt) : "—"),
          ),
        ),
      ),
    );
    nodesTable.replaceChildren(table);
  };

  const tick = () => {
    if (!alive) return;
    chart.draw(rate.series());
    setText(epsNow, fmtNum(rate.current()));
    setText(epsTotal, `(${fmtNum(rate.total)} since this page opened)`);
    const n = approvals.pending().length;
    setText(pendingLink, n ? `${n} pending approval${n === 1 ? "" : "s"} →` : "");
    renderFeed();
  };

  let feedDirty = false;
  const renderFeed = () => {
    if (!feedDirty) return;
    feedDirty = false;
    if (!feedItems.length) {
      feed.replaceChildren(h("li.muted", "No events yet. They appear here as agents work."));
      return;
    }
    feed.replaceChildren(
      ...feedItems.map((it) =>
        h(
          "li",
          h("span.feed-time.mono", fmtClock(it.at)),
          h(`span.feed-event.ev-${it.name.replace(/\W/g, "-")}`, it.name),
          it.sessionId ? h("a.feed-session", { href: sessionHref(it.sessionId) }, it.label || it.sessionId) : h("span", it.label || ""),
        ),
      ),
    );
  };
  feedDirty = true;
  renderFeed();

  const offEvent = gw.on("event", (name, payload) => {
    // Chat deltas are many; the feed shows what changes state.
    if (name === "chat" || name === "tool.output") return;
    const sessionId = payload.sessionId || payload.id;
    let label = sessionId;
    if (name === "agent") label = `${payload.status} · ${sessionId}`;
    else if (name.startsWith("tool.") || name.startsWith("approval.")) label = `${payload.tool} · ${sessionId}`;
    else if (name.startsWith("session.") && payload.title) label = payload.title;
    else if (name === "shutdown") label = payload.reason;
    feedItems.unshift({ at: Date.now(), name, sessionId, label });
    if (feedItems.length > FEED_MAX) feedItems.length = FEED_MAX;
    feedDirty = true;
  });

  poll();
  tick();
  timer = setInterval(() => {
    poll();
  }, POLL_MS);
  const ticker = setInterval(tick, 1000);

  return {
    onReady() {
      poll();
    },
    unmount() {
      alive = false;
      clearInterval(timer);
      clearInterval(ticker);
      offEvent();
    },
  };
}

/** A small SVG line chart of {t, n} points (one per second). */
class RateChart {
  constructor() {
    this.w = 600;
    this.h = 120;
    this.svg = svg("svg", {
      class: "chart",
      viewBox: `0 0 ${this.w} ${this.h}`,
      preserveAspectRatio: "none",
      role: "img",
      "aria-label": "Events per second over the last 60 seconds",
      "data-testid": "eps-chart",
    });
    this.grid = svg("g", { class: "chart-grid" });
    this.area = svg("path", { class: "chart-area" });
    this.line = svg("polyline", { class: "chart-line", fill: "none" });
    this.maxLabel = h("span.chart-label.muted");
    this.svg.append(this.grid, this.area, this.line);
    this.el = h("div.chart-wrap", this.svg, this.maxLabel);
    for (let i = 1; i < 4; i += 1) {
      const y = (this.h / 4) * i;
      this.grid.append(svg("line", { x1: 0, x2: this.w, y1: y, y2: y }));
    }
  }

  draw(series) {
    const max = Math.max(1, ...series.map((p) => p.n));
    const top = niceCeil(max);
    const pad = 16;
    const step = this.w / Math.max(1, series.length - 1);
    const pts = series.map((p, i) => {
      const x = i * step;
      const y = this.h - 2 - (p.n / top) * (this.h - pad - 2);
      return `${x.toFixed(1)},${y.toFixed(1)}`;
    });
    this.line.setAttribute("points", pts.join(" "));
    this.area.setAttribute("d", `M0,${this.h} L${pts.join(" L")} L${this.w},${this.h} Z`);
    this.maxLabel.textContent = `${fmtNum(top)}/s`;
    this.svg.setAttribute("data-points", String(series.length));
  }
}

function niceCeil(n) {
  const pow = 10 ** Math.floor(Math.log10(n));
  for (const m of [1, 2, 5, 10]) if (m * pow >= n) return m * pow;
  return 10 * pow;
}
