// Small DOM and formatting helpers. Text always goes in as text (textContent / text nodes),
// never as HTML.

const SVG_NS = "http://www.w3.org/2000/svg";

/**
 * h("div.card#x", {testid: "a", data: {k: v}, attrs: {...}, on: {click: fn}}, ...children)
 * Children: strings (text nodes), nodes, arrays, null/false (skipped).
 */
export function h(spec, props, ...children) {
  if (props === null || typeof props !== "object" || props instanceof Node || Array.isArray(props)) {
    if (props !== undefined) children.unshift(props);
    props = {};
  }
  const { tag, id, classes } = parseSpec(spec);
  const el = document.createElement(tag);
  if (id) el.id = id;
  if (classes.length) el.className = classes.join(" ");
  applyProps(el, props);
  append(el, children);
  return el;
}

/** An SVG element with attributes. */
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function parseSpec(spec) {
  const m = /^([a-z0-9-]+)?(#[\w-]+)?((?:\.[\w-]+)*)$/i.exec(spec);
  if (!m) return { tag: "div", id: "", classes: [] };
  return {
    tag: m[1] || "div",
    id: m[2] ? m[2].slice(1) : "",
    classes: m[3] ? m[3].split(".").filter(Boolean) : [],
  };
}

function applyProps(el, props) {
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    switch (key) {
      case "testid":
        el.setAttribute("data-testid", value);
        break;
      case "data":
        for (const [k, v] of Object.entries(value)) {
          if (v !== undefined && v !== null) el.dataset[k] = String(v);
        }
        break;
      case "attrs":
        for (const [k, v] of Object.entries(value)) {
          if (v === true) el.setAttribute(k, "");
          else if (v !== undefined && v !== null && v !== false) el.setAttribute(k, String(v));
        }
        break;
      case "on":
        for (const [k, fn] of Object.entries(value)) el.addEventListener(k, fn);
        break;
      case "class":
        el.className = value;
        break;
      case "text":
        el.textContent = String(value);
        break;
      case "hidden":
        el.hidden = Boolean(value);
        break;
      default:
        // Properties such as type, href, value, disabled, title, placeholder, name…
        if (key in el) el[key] = value;
        else el.setAttribute(key, String(value));
    }
  }
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces all children of `el`. */
export function setChildren(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/** Sets text only when it changed (cheap DOM updates). */
export function setText(el, text) {
  const s = text === undefined || text === null ? "" : String(text);
  if (el.textContent !== s) el.textContent = s;
}

// ---- formatting ----

const timeFmt = new Intl.DateTimeFormat(undefined, {
  year: "numeric",
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
});
const clockFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });

export function fmtTime(ms) {
  if (typeof ms !== "number" || !Number.isFinite(ms)) return "—";
  return timeFmt.format(new Date(ms));
}

export function fmtClock(ms) {
  if (typeof ms !== "number" || !Number.isFinite(ms)) return "—";
  return clockFmt.format(new Date(ms));
}

export function fmtAgo(ms, now = Date.now()) {
  if (typeof ms !== "number" || !Number.isFinite(ms)) return "—";
  const s = Math.round((now - ms) / 1000);
  if (s < 5) return "just now";
  if (s < 60) return `${s} s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ago`;
  const hours = Math.floor(m / 60);
  if (hours < 24) return `${hours} h ago`;
  const d = Math.floor(hours / 24);
  if (d < 30) return `${d} d ago`;
  return fmtTime(ms);
}

/** A <time> element with a relative label, the absolute time as its title. */
export function timeEl(ms, { relative = true } = {}) {
  const el = h("time", {
    attrs: { datetime: Number.isFinite(ms) ? new Date(ms).toISOString() : undefined },
    title: fmtTime(ms),
  });
  el.dataset.ms = String(ms);
  el.textContent = relative ? fmtAgo(ms) : fmtTime(ms);
  if (relative) el.classList.add("rel-time");
  return el;
}

/** Refreshes every relative <time> under `root`. */
export function refreshTimes(root) {
  const now = Date.now();
  for (const el of root.querySelectorAll("time.rel-time")) {
    setText(el, fmtAgo(Number(el.dataset.ms), now));
  }
}

export function fmtDuration(totalSeconds) {
  if (typeof totalSeconds !== "number" || !Number.isFinite(totalSeconds)) return "—";
  let s = Math.max(0, Math.floor(totalSeconds));
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const hrs = Math.floor(s / 3600);
  s -= hrs * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (d) return `${d}d ${hrs}h ${m}m`;
  if (hrs) return `${hrs}h ${String(m).padStart(2, "0")}m ${String(s).padStart(2, "0")}s`;
  if (m) return `${m}m ${String(s).padStart(2, "0")}s`;
  return `${s}s`;
}

const numFmt = new Intl.NumberFormat();
export function fmtNum(n) {
  if (typeof n !== "number" || !Number.isFinite(n)) return "—";
  return numFmt.format(n);
}

export function fmtCost(cost) {
  if (typeof cost !== "number" || !Number.isFinite(cost)) return "";
  if (cost === 0) return "$0";
  if (cost < 0.01) return `$${cost.toFixed(4)}`;
  return `$${cost.toFixed(2)}`;
}

/** "12 in · 34 out · $0.0012" (cost only when known). */
export function fmtUsage(usage) {
  if (!usage) return "—";
  const parts = [`${fmtNum(usage.input_tokens || 0)} in`, `${fmtNum(usage.output_tokens || 0)} out`];
  if (typeof usage.cost === "number" && usage.cost > 0) parts.push(fmtCost(usage.cost));
  return parts.join(" · ");
}

/** JSON for display, bounded. */
export function fmtJson(value, max = 20000) {
  let s;
  try {
    s = typeof value === "string" ? value : JSON.stringify(value, null, 2);
  } catch (e) {
    s = String(value);
  }
  if (s === undefined) s = "null";
  if (s.length > max) s = `${s.slice(0, max)}\n… (${fmtNum(s.length - max)} more characters)`;
  return s;
}

/** A short one-line preview of JSON. */
export function jsonPreview(value, max = 80) {
  let s;
  try {
    s = typeof value === "string" ? value : JSON.stringify(value);
  } catch (e) {
    s = String(value);
  }
  if (s === undefined) s = "";
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** Calls fn at most once per animation frame (with a timer fallback for hidden tabs). */
export function frameScheduler(fn) {
  let scheduled = false;
  let raf = 0;
  let timer = 0;
  const run = () => {
    if (!scheduled) return;
    scheduled = false;
    cancelAnimationFrame(raf);
    clearTimeout(timer);
    fn();
  };
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    raf = requestAnimationFrame(run);
    timer = setTimeout(run, 200);
  };
  schedule.cancel = () => {
    scheduled = false;
    cancelAnimationFrame(raf);
    clearTimeout(timer);
  };
  schedule.flushNow = run;
  return schedule;
}

/** An inline error / notice line. */
export function notice(kind, text) {
  return h(`p.notice.notice-${kind}`, { attrs: { role: kind === "error" ? "alert" : "status" } }, text);
}

/** Message of an error for people. */
export function errText(err) {
  if (!err) return "unknown error";
  if (err.code && err.message && err.message !== err.code) return `${err.message} (${err.code})`;
  return err.message || String(err);
}

/** Copies text to the clipboard; resolves true on success. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch (e) {
    return false;
  }
}
