// The dashboard's entry: sign-in, the connection's state, the top bar, the theme, and the
// view for the current hash route.

import { Gateway, reportBug } from "./js/ws.js";
import { ApprovalStore, EventRate } from "./js/store.js";
import { parseRoute, navigate } from "./js/router.js";
import { h, setText } from "./js/dom.js";
import * as overview from "./js/views/overview.js";
import * as sessions from "./js/views/sessions.js";
import * as session from "./js/views/session.js";
import * as approvals from "./js/views/approvals.js";
import * as admin from "./js/views/admin.js";

const TOKEN_KEY = "sb.token";
const VIEWS = { overview, sessions, session, approvals, admin };

const gw = new Gateway();
const approvalStore = new ApprovalStore(gw);
const rate = new EventRate(60);
const ctx = { gw, approvals: approvalStore, rate };

const $ = (id) => document.getElementById(id);
const body = document.body;
const viewEl = $("view");

let mounted = null; // {key, role, epoch, instance}
let liveEpoch = 0; // bumps with every hello-ok
let signinReason = "";

// ---- storage ----

function storedToken() {
  try {
    return window.sessionStorage.getItem(TOKEN_KEY);
  } catch (e) {
    return null;
  }
}

function storeToken(token) {
  try {
    if (token === null) window.sessionStorage.removeItem(TOKEN_KEY);
    else window.sessionStorage.setItem(TOKEN_KEY, token);
  } catch (e) {
    // Storage unavailable: the token lives for this page only.
  }
}

// ---- theme ----

function currentTheme() {
  const set = document.documentElement.getAttribute("data-theme");
  if (set === "light" || set === "dark") return set;
  return window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

function paintThemeToggle() {
  const next = currentTheme() === "dark" ? "light" : "dark";
  const btn = $("theme-toggle");
  btn.classList.toggle("is-dark", currentTheme() === "dark");
  btn.setAttribute("aria-label", `Switch to ${next} theme`);
  btn.title = `Switch to ${next} theme`;
}

$("theme-toggle").addEventListener("click", () => {
  const next = currentTheme() === "dark" ? "light" : "dark";
  document.documentElement.setAttribute("data-theme", next);
  try {
    window.localStorage.setItem("sb.theme", next);
  } catch (e) {
    // not kept
  }
  paintThemeToggle();
});
window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", paintThemeToggle);
paintThemeToggle();

// The skip link moves focus to the content without touching the hash (the router's).
document.querySelector(".skip-link").addEventListener("click", (e) => {
  e.preventDefault();
  const main = $("main");
  main.focus();
  main.scrollIntoView();
});

// ---- sign-in / sign-out ----

$("signin-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const token = $("token-input").value.trim();
  signinReason = "";
  storeToken(token);
  $("token-input").value = "";
  setText($("signin-reason"), "");
  gw.start(token);
  if (parseRoute().name === "signin") navigate("#/overview", { replace: true });
});

$("signout").addEventListener("click", () => {
  signinReason = "";
  storeToken(null);
  gw.stop();
  showSignin();
  navigate("#/signin");
});

function showSignin() {
  unmountView();
  body.dataset.state = "signin";
  body.dataset.role = "";
  showAdminNav(false);
  $("topbar").hidden = true;
  $("banner").hidden = true;
  $("signin-view").hidden = false;
  setText($("signin-reason"), signinReason);
  $("signin-reason").hidden = !signinReason;
  document.title = "Sign in · Switchboard";
  const input = $("token-input");
  input.disabled = false;
  $("signin-button").disabled = false;
  setTimeout(() => input.focus(), 0);
}

// ---- connection state ----

gw.on("state", (state, detail) => {
  if (state === "signin") {
    signinReason = (detail && detail.reason) || "";
    storeToken(null);
    showSignin();
    return;
  }
  if (state === "idle") return;
  $("signin-view").hidden = true;
  setText($("signin-reason"), "");
  $("topbar").hidden = false;
  body.dataset.state = state;
  const conn = $("conn-status");
  const banner = $("banner");
  if (state === "live") {
    const hello = detail.hello;
    body.dataset.role = hello.role || "";
    setText($("whoami"), hello.role || "");
    $("whoami").title = `Signed in as ${hello.role} (connection ${hello.connection_id})`;
    conn.className = "conn conn-live";
    setText(conn, "live");
    banner.hidden = true;
    liveEpoch += 1;
    showAdminNav(isAdmin());
    renderRoute();
  } else {
    conn.className = "conn conn-connecting";
    setText(conn, detail && detail.reconnecting ? "reconnecting…" : "connecting…");
    if (mounted) {
      banner.hidden = false;
      setText(banner, "Connection lost — reconnecting. The page resumes where it left off.");
    } else {
      showConnecting();
    }
  }
});

// The admin link exists only for roles that may use the admin view (absent, not just hidden).
const navAdmin = $("nav-admin");
navAdmin.hidden = false;
navAdmin.remove();
function showAdminNav(show) {
  const nav = document.querySelector(".nav");
  if (show && !navAdmin.isConnected) nav.append(navAdmin);
  if (!show && navAdmin.isConnected) navAdmin.remove();
}

function isAdmin() {
  return gw.can("connections.list") || gw.can("tokens.list") || gw.can("audit.list");
}

gw.on("ready", () => {
  approvalStore.load();
  // Views mounted before this hello-ok resync; one mounted by it has just loaded.
  if (mounted && mounted.epoch < liveEpoch && mounted.instance.onReady) {
    try {
      mounted.instance.onReady();
    } catch (e) {
      reportBug(e);
    }
  }
});

gw.on("event", (name, payload) => {
  rate.hit();
  approvalStore.onEvent(name, payload);
  if (name === "shutdown") {
    const banner = $("banner");
    banner.hidden = false;
    setText(banner, `The gateway is shutting down (${payload.reason || "no reason given"}); the page will reconnect.`);
  }
});

// The app-wide `*` subscription (kept across reconnects): the event rate, approvals, and every
// view's live updates.
gw.subscribe("*");

approvalStore.on(() => {
  const n = approvalStore.pending().length;
  const badge = $("approvals-count");
  badge.hidden = n === 0;
  setText(badge, String(n));
  $("nav-approvals").setAttribute("aria-label", n ? `Approvals, ${n} pending` : "Approvals");
});

// ---- views ----

function routeKey(route) {
  return route.name === "session" ? `session:${route.id}` : route.name;
}

function unmountView() {
  if (!mounted) return;
  const { instance } = mounted;
  mounted = null;
  try {
    instance.unmount();
  } catch (e) {
    reportBug(e);
  }
  viewEl.replaceChildren();
}

function showConnecting() {
  unmountView();
  viewEl.replaceChildren(
    h(
      "div.placeholder",
      h("div.spinner", { attrs: { "aria-hidden": "true" } }),
      h("p", "Connecting to the gateway…"),
    ),
  );
}

function renderRoute() {
  const route = parseRoute();
  if (!route.canonical && route.name === "overview") {
    navigate("#/overview", { replace: true });
    return;
  }
  if (route.name === "signin") {
    if (gw.state === "live") navigate("#/overview", { replace: true });
    return;
  }
  markNav(route.name);
  if (gw.state !== "live" && !mounted) return;
  const key = routeKey(route);
  if (mounted && mounted.key === key && (mounted.role === gw.role || gw.state !== "live")) {
    // Same view (e.g. the sessions filters changed in the URL): let it follow the route.
    if (mounted.instance.onRoute) mounted.instance.onRoute(route);
    return;
  }
  unmountView();
  // The new view starts at the top; focus stays where the person put it (a nav link).
  window.scrollTo(0, 0);
  const container = h("div.view-inner");
  viewEl.replaceChildren(container);
  const module = VIEWS[route.name];
  if (!module) {
    container.append(
      h("section.page", h("h1", "Not found"), h("p", "There is no such page. ", h("a", { href: "#/overview" }, "Go to the overview"), ".")),
    );
    mounted = { key, role: gw.role, epoch: liveEpoch, instance: { unmount() {} } };
    document.title = "Not found · Switchboard";
    return;
  }
  try {
    const instance = module.mount(ctx, container, route);
    mounted = { key, role: gw.role, epoch: liveEpoch, instance };
  } catch (e) {
    reportBug(e);
    container.append(h("p.notice.notice-error", "This view failed to load."));
    mounted = { key, role: gw.role, epoch: liveEpoch, instance: { unmount() {} } };
  }
}

function markNav(name) {
  const section = name === "session" ? "sessions" : name;
  for (const a of document.querySelectorAll(".nav a[data-nav]")) {
    if (a.dataset.nav === section) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

window.addEventListener("hashchange", () => {
  if (gw.state === "signin" || gw.state === "idle") {
    if (parseRoute().name !== "signin" && storedToken() !== null) gw.start(storedToken());
    return;
  }
  renderRoute();
});

// ---- start ----

// A share link (`switchboard token create … --share-url`) carries its token in the fragment
// (`#/sessions/<id>?token=…`), which never reaches a server or its logs: keep the token in
// this tab's storage and drop it from the address bar and the history.
function takeSharedToken() {
  const hash = window.location.hash;
  const q = hash.indexOf("?");
  if (q < 0) return;
  const params = new URLSearchParams(hash.slice(q + 1));
  const shared = params.get("token");
  if (shared === null) return;
  params.delete("token");
  const rest = params.toString();
  storeToken(shared);
  const clean = hash.slice(0, q) + (rest ? `?${rest}` : "");
  window.history.replaceState(null, "", window.location.pathname + window.location.search + clean);
}
takeSharedToken();

const token = storedToken();
if (token === null) {
  showSignin();
} else {
  gw.start(token);
}
