// Admin (admin only): live connections (kick), tokens (create — the secret shown once —, list,
// revoke) and the audit log with paging (`before`). Each section appears only when hello-ok's
// `methods` lists its methods.

import { h, setText, fmtTime, fmtAgo, fmtNum, errText, copyText, refreshTimes } from "../dom.js";

const CONNECTIONS_POLL_MS = 5000;
const AUDIT_PAGE = 50;
const EXPIRY_CHOICES = [
  ["", "never"],
  ["3600", "1 hour"],
  ["86400", "1 day"],
  ["604800", "7 days"],
  ["2592000", "30 days"],
  ["7776000", "90 days"],
];

export function mount(ctx, root) {
  const { gw } = ctx;
  document.title = "Admin · Switchboard";
  const page = h("section.page", h("div.page-head", h("h1", "Admin")));
  root.append(page);
  let alive = true;
  const cleanups = [];

  const sections = [];
  if (gw.can("connections.list")) sections.push(connectionsSection(gw, () => alive, cleanups));
  if (gw.can("tokens.list")) sections.push(tokensSection(gw, () => alive));
  if (gw.can("audit.list")) sections.push(auditSection(gw, () => alive));
  if (!sections.length) {
    page.append(h("p.notice.notice-info", "Your role has no admin methods. Ask an admin for an admin token."));
  }
  for (const s of sections) page.append(s.el);
  const clock = setInterval(() => refreshTimes(page), 15000);

  return {
    onReady() {
      for (const s of sections) s.reload();
    },
    unmount() {
      alive = false;
      clearInterval(clock);
      for (const fn of cleanups) fn();
    },
  };
}

function table(columns, testid) {
  const tbody = h("tbody");
  const el = h(
    "table.table",
    { testid },
    h("thead", h("tr", columns.map((c) => h("th", { scope: "col" }, c)))),
    tbody,
  );
  return { el, tbody };
}

function td(label, ...children) {
  // One wrapper, so the cell stays one grid item when tables become cards on narrow screens.
  return h("td", { data: { label } }, h("div.cell", ...children));
}

function timeCell(ms) {
  if (typeof ms !== "number") return "—";
  return h("time.rel-time", { data: { ms }, title: fmtTime(ms) }, fmtAgo(ms));
}

// ---- connections ----

function connectionsSection(gw, isAlive, cleanups) {
  const { el: tableEl, tbody } = table(["User", "Role", "Protocol", "Address", "Connected", "Subscriptions", ""], "connections");
  const error = h("p.notice.notice-error", { attrs: { role: "alert" }, hidden: true });
  const count = h("span.muted.small");
  const refresh = h("button.btn.btn-quiet", { type: "button" }, "Refresh");
  const canKick = gw.can("connections.kick");
  const el = h(
    "section.panel",
    h("div.panel-head", h("h2", "Connections ", count), refresh),
    error,
    h("div.table-wrap", tableEl),
  );
  let inFlight = false;
  const reload = async () => {
    if (inFlight || !isAlive() || gw.state !== "live") return;
    inFlight = true;
    try {
      const res = await gw.call("connections.list");
      if (!isAlive()) return;
      error.hidden = true;
      render(res.connections || []);
    } catch (e) {
      if (isAlive() && e.code !== "DISCONNECTED") {
        setText(error, `Could not list connections: ${errText(e)}`);
        error.hidden = false;
      }
    } finally {
      inFlight = false;
    }
  };
  const render = (conns) => {
    conns.sort((a, b) => (b.connectedAt || 0) - (a.connectedAt || 0));
    setText(count, `(${fmtNum(conns.length)})`);
    const mine = gw.hello && gw.hello.connection_id;
    tbody.replaceChildren(
      ...conns.map((c) => {
        const self = c.id === mine;
        let kick = null;
        if (canKick) {
          kick = h("button.btn.btn-danger-quiet.btn-small", { type: "button", testid: "kick", title: self ? "This is this page's own connection" : `Close connection ${c.id}` }, self ? "Kick (this page)" : "Kick");
          kick.addEventListener("click", async () => {
            kick.disabled = true;
            try {
              await gw.call("connections.kick", { connectionId: c.id, reason: "kicked from the dashboard" });
              reload();
            } catch (e) {
              kick.disabled = false;
              if (e.code !== "DISCONNECTED") {
                setText(error, `Could not kick ${c.id}: ${errText(e)}`);
                error.hidden = false;
              }
            }
          });
        }
        return h(
          "tr",
          { testid: "connection-row", data: { connectionId: c.id } },
          td("User", h("span", c.userId || "—"), self ? h("span.badge.badge-quiet", "this page") : null, h("div.mono.muted.small", c.id)),
          td("Role", c.role ? h(`span.badge.role-${c.role}`, c.role) : "—"),
          td("Protocol", c.protocol, c.nodeId ? h("div.muted.small", `node ${c.nodeId}`) : null),
          td("Address", h("span.mono", c.remoteAddr)),
          td("Connected", timeCell(c.connectedAt)),
          td("Subscriptions", fmtNum(c.subscriptions)),
          td("", kick),
        );
      }),
    );
  };
  refresh.addEventListener("click", reload);
  const timer = setInterval(reload, CONNECTIONS_POLL_MS);
  cleanups.push(() => clearInterval(timer));
  reload();
  return { el, reload };
}

// ---- tokens ----

function tokensSection(gw, isAlive) {
  const { el: tableEl, tbody } = table(["Name", "Role", "Created", "Expires", "Last used", "State", ""], "tokens");
  const error = h("p.notice.notice-error", { attrs: { role: "alert" }, hidden: true });
  const canCreate = gw.can("tokens.create");
  const canRevoke = gw.can("tokens.revoke");
  const el = h("section.panel", h("div.panel-head", h("h2", "Tokens")), error);
  const secretBox = h("div.secret-box", { hidden: true, attrs: { role: "status" } });

  if (canCreate) {
    const name = h("input.input", { id: "token-name", testid: "token-name", type: "text", placeholder: "e.g. ci-bot", required: true, attrs: { maxlength: "100", autocomplete: "off" } });
    const role = h(
      "select.input",
      { id: "token-role", testid: "token-role" },
      ["viewer", "operator", "admin"].map((r) => h("option", { value: r }, r)),
    );
    const expires = h(
      "select.input",
      { id: "token-expires" },
      EXPIRY_CHOICES.map(([v, label]) => h("option", { value: v }, label)),
    );
    const create = h("button.btn.btn-primary", { type: "submit", testid: "token-create" }, "Create token");
    const formError = h("p.notice.notice-error", { attrs: { role: "alert" }, hidden: true });
    const form = h(
      "form.token-form",
      { attrs: { "aria-label": "Create a token" }, novalidate: true },
      h("label.field", { htmlFor: "token-name" }, h("span", "Name"), name),
      h("label.field", { htmlFor: "token-role" }, h("span", "Role"), role),
      h("label.field", { htmlFor: "token-expires" }, h("span", "Expires"), expires),
      create,
    );
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const n = name.value.trim();
      formError.hidden = true;
      if (!n) {
        setText(formError, "Give the token a name.");
        formError.hidden = false;
        name.focus();
        return;
      }
      create.disabled = true;
      const params = { name: n, role: role.value };
      if (expires.value) params.expiresInS = Number(expires.value);
      try {
        const t = await gw.call("tokens.create", params);
        if (!isAlive()) return;
        name.value = "";
        showSecret(t);
        reload();
      } catch (err) {
        if (err.code !== "DISCONNECTED") {
          setText(formError, `Could not create the token: ${errText(err)}`);
          formError.hidden = false;
        }
      } finally {
        create.disabled = false;
      }
    });
    el.append(form, formError);
  }
  el.append(secretBox, h("div.table-wrap", tableEl));

  const showSecret = (t) => {
    const secret = h("code.secret", { testid: "token-secret" }, t.token);
    const copy = h("button.btn.btn-small", { type: "button" }, "Copy");
    const done = h("button.btn.btn-quiet.btn-small", { type: "button" }, "Done — hide it");
    copy.addEventListener("click", async () => {
      const ok = await copyText(t.token);
      setText(copy, ok ? "Copied" : "Select and copy it");
    });
    done.addEventListener("click", () => {
      secretBox.hidden = true;
      secretBox.replaceChildren();
    });
    secretBox.replaceChildren(
      h("p", h("strong", `New ${t.role} token “${t.name}”.`), " Copy it now — it is shown only this once and cannot be read again."),
      h("div.secret-row", secret, copy, done),
    );
    secretBox.hidden = false;
    copy.focus();
  };

  let inFlight = false;
  const reload = async () => {
    if (inFlight || !isAlive() || gw.state !== "live") return;
    inFlight = true;
    try {
      const res = await gw.call("tokens.list");
      if (!isAlive()) return;
      error.hidden = true;
      render(res.tokens || []);
    } catch (e) {
      if (isAlive() && e.code !== "DISCONNECTED") {
        setText(error, `Could not list tokens: ${errText(e)}`);
        error.hidden = false;
      }
    } finally {
      inFlight = false;
    }
  };
  const render = (tokens) => {
    const now = Date.now();
    tokens.sort((a, b) => (b.createdAt || 0) - (a.createdAt || 0));
    tbody.replaceChildren(
      ...tokens.map((t) => {
        const expired = typeof t.expiresAt === "number" && t.expiresAt <= now;
        const state = t.revoked ? "revoked" : expired ? "expired" : "active";
        let revoke = null;
        if (canRevoke && state === "active") {
          revoke = h("button.btn.btn-danger-quiet.btn-small", { type: "button", testid: "revoke", title: `Revoke ${t.name}: its live connections close at once` }, "Revoke");
          revoke.addEventListener("click", async () => {
            revoke.disabled = true;
            try {
              const r = await gw.call("tokens.revoke", { id: t.id });
              setText(error, `Revoked “${t.name}”; ${fmtNum(r.closedConnections || 0)} connection(s) closed.`);
              error.className = "notice notice-info";
              error.hidden = false;
              reload();
            } catch (e) {
              revoke.disabled = false;
              if (e.code !== "DISCONNECTED") {
                error.className = "notice notice-error";
                setText(error, `Could not revoke: ${errText(e)}`);
                error.hidden = false;
              }
            }
          });
        }
        return h(
          "tr",
          { testid: "token-row", data: { tokenId: t.id, state } },
          td("Name", h("span", t.name), h("div.mono.muted.small", t.id)),
          td("Role", h(`span.badge.role-${t.role}`, t.role)),
          td("Created", timeCell(t.createdAt)),
          td("Expires", typeof t.expiresAt === "number" ? h("time", { title: fmtTime(t.expiresAt) }, fmtTime(t.expiresAt)) : "never"),
          td("Last used", typeof t.lastUsedAt === "number" ? timeCell(t.lastUsedAt) : "never"),
          td("State", h(`span.badge.token-${state}`, state)),
          td("", revoke),
        );
      }),
    );
    if (!tokens.length) tbody.replaceChildren(h("tr", h("td.muted", { colSpan: 7 }, "No tokens in the store.")));
  };
  reload();
  return { el, reload };
}

// ---- audit ----

function auditSection(gw, isAlive) {
  const { el: tableEl, tbody } = table(["When", "Actor", "Action", "Target", "Outcome", "Detail"], "audit");
  const error = h("p.notice.notice-error", { attrs: { role: "alert" }, hidden: true });
  const more = h("button.btn", { type: "button", testid: "audit-more", hidden: true }, "Older entries");
  const refresh = h("button.btn.btn-quiet", { type: "button" }, "Refresh");
  const el = h(
    "section.panel",
    h("div.panel-head", h("h2", "Audit log"), refresh),
    error,
    h("div.table-wrap", tableEl),
    h("div.more-row", more),
  );
  let oldest = null;
  let generation = 0;
  const load = async (before) => {
    const gen = generation;
    more.disabled = true;
    const params = { limit: AUDIT_PAGE };
    if (before !== null && before !== undefined) params.before = before;
    try {
      const res = await gw.call("audit.list", params);
      if (!isAlive() || gen !== generation) return;
      error.hidden = true;
      const entries = res.entries || [];
      if (before === null || before === undefined) tbody.replaceChildren();
      for (const e of entries) {
        tbody.append(row(e));
        if (oldest === null || e.id < oldest) oldest = e.id;
      }
      more.hidden = entries.length < AUDIT_PAGE;
      if (!tbody.childElementCount) tbody.append(h("tr", h("td.muted", { colSpan: 6 }, "The audit log is empty.")));
    } catch (e) {
      if (isAlive() && e.code !== "DISCONNECTED") {
        setText(error, `Could not read the audit log: ${errText(e)}`);
        error.hidden = false;
      }
    } finally {
      more.disabled = false;
    }
  };
  const row = (e) =>
    h(
      "tr",
      { testid: "audit-row", data: { auditId: e.id, outcome: e.outcome } },
      td("When", h("time", { title: fmtTime(e.at) }, fmtTime(e.at))),
      td("Actor", h("span", e.actor), e.principal ? h("div.mono.muted.small", `${e.principal}${e.role ? ` (${e.role})` : ""}`) : null),
      td("Action", h("span.mono", e.action)),
      td("Target", e.target ? h("span.mono", e.target) : "—"),
      td("Outcome", h(`span.badge.outcome-${e.outcome}`, e.outcome)),
      td("Detail", e.detail || "—"),
    );
  const reload = () => {
    generation += 1;
    oldest = null;
    load(null);
  };
  more.addEventListener("click", () => load(oldest));
  refresh.addEventListener("click", reload);
  reload();
  return { el, reload };
}
