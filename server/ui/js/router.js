// Hash routes: #/overview (default), #/sessions[?agent=&user=], #/sessions/<id>, #/approvals,
// #/admin, #/signin. Every view has its own URL, so a link can be shared and a reload restores it.

export function parseRoute(hash = window.location.hash) {
  let path = hash.replace(/^#/, "");
  let query = "";
  const q = path.indexOf("?");
  if (q >= 0) {
    query = path.slice(q + 1);
    path = path.slice(0, q);
  }
  const params = new URLSearchParams(query);
  const parts = path.split("/").filter(Boolean).map(safeDecode);
  if (parts.length === 0) return { name: "overview", params, canonical: false };
  const [head, id, ...rest] = parts;
  switch (head) {
    case "overview":
    case "approvals":
    case "admin":
    case "signin":
      return { name: head, params, canonical: !id };
    case "sessions":
      if (id && rest.length === 0) return { name: "session", id, params, canonical: true };
      return { name: "sessions", params, canonical: !id };
    default:
      return { name: "notfound", path, params, canonical: true };
  }
}

function safeDecode(s) {
  try {
    return decodeURIComponent(s);
  } catch (e) {
    return s;
  }
}

export function sessionHref(id) {
  return `#/sessions/${encodeURIComponent(id)}`;
}

export function navigate(hash, { replace = false } = {}) {
  if (window.location.hash === hash) return;
  if (replace) {
    window.history.replaceState(null, "", hash);
    window.dispatchEvent(new HashChangeEvent("hashchange"));
  } else {
    window.location.hash = hash;
  }
}
