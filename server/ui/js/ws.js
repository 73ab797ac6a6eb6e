// The gateway client: one WebSocket to /ws speaking the frame protocol (protocol 3).
//
// - Opens, waits for `connect.challenge`, sends `connect`, and on hello-ok is "live".
// - `call(method, params)` → a promise of the payload; rejects with a GatewayError.
// - `subscribe(topic, {afterSeq})` registers a subscription that survives reconnects: after each
//   hello-ok every registered subscription is sent again, asking its `afterSeq()` for where to
//   resume (session topics), so a stream continues without a gap or a duplicate.
// - Events go to `onEvent` listeners with (name, payload, frameSeq).
// - Closes: 1008 (token revoked / expired / kicked) other than `slow consumer`, and a connect
//   refused with UNAUTHORIZED, end the session ("signin" with the reason). Anything else
//   reconnects with backoff (0.5 s doubling to 5 s).

export class GatewayError extends Error {
  constructor(code, message, extra = {}) {
    super(message || code);
    this.code = code;
    this.retryable = Boolean(extra.retryable);
    this.retryAfterMs = extra.retryAfterMs;
  }
}

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 5000;
const CONNECT_TIMEOUT_MS = 10000;

export class Gateway {
  constructor() {
    this.token = null;
    this.ws = null;
    this.state = "idle"; // idle | connecting | live | signin
    this.hello = null;
    this.nextId = 1;
    this.pending = new Map(); // request id -> {resolve, reject, method}
    this.subs = new Map(); // local key -> {topic, afterSeq, id, onError}
    this.nextSubKey = 1;
    this.frameSeq = 0;
    this.backoff = BACKOFF_MIN_MS;
    this.retryTimer = null;
    this.connectTimer = null;
    this.listeners = { event: new Set(), state: new Set(), ready: new Set() };
    this.generation = 0; // bumps with every socket, so stale callbacks are ignored
  }

  on(kind, fn) {
    this.listeners[kind].add(fn);
    return () => this.listeners[kind].delete(fn);
  }

  emit(kind, ...args) {
    for (const fn of [...this.listeners[kind]]) {
      try {
        fn(...args);
      } catch (e) {
        // A listener's bug must not break the stream; surface it without a console error.
        reportBug(e);
      }
    }
  }

  setState(state, detail) {
    this.state = state;
    this.emit("state", state, detail);
  }

  /** Starts (or restarts) with `token` (a string; "" for anonymous). */
  start(token) {
    this.stop();
    this.token = token;
    this.backoff = BACKOFF_MIN_MS;
    this.open();
  }

  /** Closes the socket and forgets the token; no reconnect. */
  stop() {
    this.generation += 1;
    clearTimeout(this.retryTimer);
    clearTimeout(this.connectTimer);
    this.retryTimer = null;
    closeQuietly(this.ws, 1000, "signed out");
    this.ws = null;
    this.failPending(new GatewayError("DISCONNECTED", "signed out"));
    this.hello = null;
    this.token = null;
    this.setState("idle");
  }

  open() {
    const generation = ++this.generation;
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    let ws;
    try {
      ws = new WebSocket(`${scheme}//${window.location.host}/ws`);
    } catch (e) {
      this.scheduleReconnect(generation);
      return;
    }
    this.ws = ws;
    this.connectSent = false;
    this.frameSeq = 0;
    this.hello = null;
    this.setState("connecting");
    this.connectTimer = setTimeout(() => {
      if (generation === this.generation && this.state !== "live") {
        this.dropSocket(generation);
      }
    }, CONNECT_TIMEOUT_MS);
    // The server opens with connect.challenge; should it not come, connect anyway.
    ws.addEventListener("open", () => {
      setTimeout(() => {
        if (generation === this.generation && !this.connectSent) this.sendConnect(generation);
      }, 1500);
    });
    ws.addEventListener("message", (m) => {
      if (generation === this.generation) this.onFrame(m.data, generation);
    });
    ws.addEventListener("close", (c) => {
      if (generation === this.generation) this.onClose(c.code, c.reason, generation);
    });
    // "error" is always followed by "close", which decides what happens next.
    ws.addEventListener("error", () => {});
  }

  dropSocket(generation) {
    if (generation !== this.generation) return;
    closeQuietly(this.ws, 4000, "resync");
    this.ws = null;
    this.generation += 1;
    this.failPending(new GatewayError("DISCONNECTED", "connection lost"));
    this.scheduleReconnect(this.generation);
  }

  onClose(code, reason, generation) {
    this.ws = null;
    clearTimeout(this.connectTimer);
    this.failPending(new GatewayError("DISCONNECTED", reason || "connection closed"));
    if (code === 1008 && reason !== "slow consumer") {
      this.endSession(reason || "the gateway closed the connection (policy)");
      return;
    }
    this.scheduleReconnect(generation);
  }

  scheduleReconnect(generation, delayMs) {
    if (generation !== this.generation || this.token === null) return;
    this.hello = null;
    this.setState("connecting", { reconnecting: true });
    const delay = delayMs ?? this.backoff;
    this.backoff = Math.min(this.backoff * 2, BACKOFF_MAX_MS);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      if (generation === this.generation && this.token !== null) this.open();
    }, delay);
  }

  /** Back to sign-in: forget the token and say why. */
  endSession(reason) {
    this.generation += 1;
    clearTimeout(this.retryTimer);
    clearTimeout(this.connectTimer);
    closeQuietly(this.ws, 1000, "signed out");
    this.ws = null;
    this.failPending(new GatewayError("DISCONNECTED", reason));
    this.token = null;
    this.hello = null;
    this.setState("signin", { reason });
  }

  failPending(error) {
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) p.reject(error);
    for (const sub of this.subs.values()) sub.id = null;
  }

  onFrame(data, generation) {
    const st = window.__sbStats;
    if (!st) {
      this.handleFrame(data, generation);
      return;
    }
    const t0 = performance.now();
    this.handleFrame(data, generation);
    st.frameMs = (st.frameMs || 0) + performance.now() - t0;
    st.frames = (st.frames || 0) + 1;
  }

  handleFrame(data, generation) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch (e) {
      return;
    }
    if (!frame || typeof frame !== "object") return;
    if (frame.type === "event") {
      if (frame.event === "connect.challenge") {
        this.sendConnect(generation);
        return;
      }
      if (typeof frame.seq === "number") {
        if (frame.seq !== this.frameSeq + 1 && this.frameSeq !== 0) {
          // A gap in the connection's numbering means loss: start over and resume.
          this.dropSocket(generation);
          return;
        }
        this.frameSeq = frame.seq;
      }
      this.emit("event", frame.event, frame.payload || {}, frame.seq);
      return;
    }
    if (frame.type === "res") {
      const p = this.pending.get(String(frame.id));
      if (!p) return;
      this.pending.delete(String(frame.id));
      if (frame.ok) {
        p.resolve(frame.payload);
      } else {
        const err = frame.error || {};
        p.reject(
          new GatewayError(err.code || "INTERNAL", err.message || "request failed", {
            retryable: err.retryable,
            retryAfterMs: err.retryAfterMs,
          }),
        );
      }
    }
  }

  sendConnect(generation) {
    if (this.connectSent) return;
    this.connectSent = true;
    const params = {
      minProtocol: 3,
      maxProtocol: 3,
      client: { id: "switchboard-dashboard", mode: "ui" },
      user_id: "dashboard",
    };
    if (this.token) params.token = this.token;
    this.rawCall("connect", params).then(
      (hello) => {
        if (generation !== this.generation) return;
        clearTimeout(this.connectTimer);
        this.hello = hello;
        this.backoff = BACKOFF_MIN_MS;
        this.setState("live", { hello });
        this.resubscribeAll();
        this.emit("ready", hello);
      },
      (err) => {
        if (generation !== this.generation) return;
        if (err.code === "UNAUTHORIZED" || (err.code !== "DISCONNECTED" && !err.retryable)) {
          this.endSession(err.message || err.code);
        } else if (err.code !== "DISCONNECTED") {
          closeQuietly(this.ws, 1000, "retry");
          this.ws = null;
          this.generation += 1;
          this.scheduleReconnect(this.generation, err.retryAfterMs || undefined);
        }
      },
    );
  }

  rawCall(method, params) {
    return new Promise((resolve, reject) => {
      const ws = this.ws;
      if (!ws || ws.readyState !== WebSocket.OPEN) {
        reject(new GatewayError("DISCONNECTED", "not connected"));
        return;
      }
      const id = String(this.nextId++);
      this.pending.set(id, { resolve, reject, method });
      const frame = { type: "req", id, method };
      if (params !== undefined) frame.params = params;
      ws.send(JSON.stringify(frame));
    });
  }

  /** A method call once live; rejects with GatewayError (code DISCONNECTED when offline). */
  call(method, params) {
    if (this.state !== "live") {
      return Promise.reject(new GatewayError("DISCONNECTED", "not connected"));
    }
    return this.rawCall(method, params);
  }

  /** Whether this role may call `method` (hello-ok's `methods`). */
  can(method) {
    return Boolean(this.hello && Array.isArray(this.hello.methods) && this.hello.methods.includes(method));
  }

  get role() {
    return this.hello ? this.hello.role : "";
  }

  /**
   * Registers a subscription kept across reconnects. `afterSeq`: a function returning the
   * sessionSeq to resume after (session topics), or undefined. Returns {close()}.
   */
  subscribe(topic, { afterSeq, onError } = {}) {
    const key = this.nextSubKey++;
    const sub = { topic, afterSeq, onError, id: null, key };
    this.subs.set(key, sub);
    if (this.state === "live") this.sendSubscribe(sub);
    return {
      close: () => {
        this.subs.delete(key);
        if (sub.id && this.state === "live") {
          this.rawCall("unsubscribe", { subscriptionId: sub.id }).catch(() => {});
        }
        sub.id = null;
      },
    };
  }

  sendSubscribe(sub) {
    const params = { topic: sub.topic };
    if (sub.afterSeq) {
      const after = sub.afterSeq();
      if (typeof after === "number" && after >= 0) params.afterSeq = after;
    }
    const generation = this.generation;
    this.rawCall("subscribe", params).then(
      (res) => {
        if (generation !== this.generation) return;
        if (!this.subs.has(sub.key)) {
          // Closed while the subscribe was on its way.
          this.rawCall("unsubscribe", { subscriptionId: res.subscriptionId }).catch(() => {});
          return;
        }
        sub.id = res.subscriptionId;
      },
      (err) => {
        if (err.code !== "DISCONNECTED" && sub.onError) sub.onError(err);
      },
    );
  }

  resubscribeAll() {
    for (const sub of this.subs.values()) {
      sub.id = null;
      this.sendSubscribe(sub);
    }
  }
}

/** Closes a socket without a console warning: one still connecting is closed once it opens. */
function closeQuietly(ws, code, reason) {
  if (!ws) return;
  try {
    if (ws.readyState === WebSocket.CONNECTING) {
      ws.addEventListener("open", () => ws.close(code, reason));
    } else if (ws.readyState === WebSocket.OPEN) {
      ws.close(code, reason);
    }
  } catch (e) {
    // already closed
  }
}

/** Bugs in listeners: kept on the page (data-bugs) for tests and people to see, not thrown. */
export function reportBug(e) {
  const body = document.body;
  const n = Number(body.getAttribute("data-bugs") || "0") + 1;
  body.setAttribute("data-bugs", String(n));
  body.setAttribute("data-last-bug", String((e && e.stack) || e));
}
