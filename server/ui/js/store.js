// App-wide live state fed by the `*` subscription: pending approvals and the event rate.

/**
 * Pending tool approvals: `approvals.list` after every hello-ok, kept current by
 * `approval.requested` / `approval.resolved` from the `*` topic. Keyed by approvalId, so a
 * list and an event describing the same approval never make two entries.
 */
export class ApprovalStore {
  constructor(gw) {
    this.gw = gw;
    this.items = new Map(); // approvalId -> approval (with status)
    this.resolvedSeen = new Set(); // ids resolved while a list was on its way
    this.listeners = new Set();
    this.loading = false;
    this.error = null;
    this.loadGeneration = 0;
  }

  on(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  changed() {
    for (const fn of [...this.listeners]) fn();
  }

  pending() {
    return [...this.items.values()]
      .filter((a) => a.status === "pending")
      .sort((a, b) => (a.createdAt || 0) - (b.createdAt || 0));
  }

  recentlyResolved(limit = 10) {
    return [...this.items.values()]
      .filter((a) => a.status !== "pending")
      .sort((a, b) => (b.resolvedAt || 0) - (a.resolvedAt || 0))
      .slice(0, limit);
  }

  forSession(sessionId) {
    return [...this.items.values()].filter((a) => a.sessionId === sessionId);
  }

  async load() {
    const generation = ++this.loadGeneration;
    this.resolvedSeen.clear();
    this.loading = true;
    try {
      const res = await this.gw.call("approvals.list");
      if (generation !== this.loadGeneration) return;
      const listed = new Set();
      for (const a of res.approvals || []) {
        listed.add(a.approvalId);
        if (this.resolvedSeen.has(a.approvalId)) continue;
        const prev = this.items.get(a.approvalId);
        this.items.set(a.approvalId, { ...prev, ...a, status: "pending" });
      }
      // Pending ones the server no longer lists were resolved while we were away.
      for (const [id, a] of this.items) {
        if (a.status === "pending" && !listed.has(id)) {
          this.items.set(id, { ...a, status: "resolved", resolvedAt: Date.now() });
        }
      }
      this.error = null;
    } catch (e) {
      if (e.code !== "DISCONNECTED") this.error = e;
    } finally {
      if (generation === this.loadGeneration) this.loading = false;
      this.changed();
    }
  }

  /** Applies an event of the `*` topic (other events are ignored). */
  onEvent(name, payload) {
    if (name === "approval.requested") {
      if (this.resolvedSeen.has(payload.approvalId)) return;
      const prev = this.items.get(payload.approvalId);
      if (prev && prev.status !== "pending") return;
      this.items.set(payload.approvalId, {
        ...prev,
        approvalId: payload.approvalId,
        sessionId: payload.sessionId,
        runId: payload.runId,
        toolCallId: payload.toolCallId,
        tool: payload.tool,
        input: payload.input,
        risk: payload.risk,
        createdAt: (prev && prev.createdAt) || payload.ts || Date.now(),
        status: "pending",
      });
      this.changed();
    } else if (name === "approval.resolved") {
      this.resolvedSeen.add(payload.approvalId);
      const prev = this.items.get(payload.approvalId) || {};
      this.items.set(payload.approvalId, {
        ...prev,
        approvalId: payload.approvalId,
        sessionId: payload.sessionId || prev.sessionId,
        runId: payload.runId || prev.runId,
        toolCallId: payload.toolCallId,
        tool: payload.tool,
        input: payload.input,
        risk: payload.risk,
        status: statusOf(payload),
        approved: payload.approved,
        resolvedBy: payload.resolvedBy,
        reason: payload.reason,
        resolvedAt: payload.ts || Date.now(),
      });
      this.trim();
      this.changed();
    }
  }

  /** Marks an approval resolved by this page (the event confirms it a moment later). */
  markResolved(approvalId, approved, reason) {
    const prev = this.items.get(approvalId);
    if (!prev || prev.status !== "pending") return;
    this.items.set(approvalId, {
      ...prev,
      status: approved ? "approved" : "denied",
      approved,
      reason,
      resolvedBy: prev.resolvedBy || "you",
      resolvedAt: Date.now(),
    });
    this.changed();
  }

  /** Keeps at most 200 resolved approvals in memory. */
  trim() {
    const resolved = [...this.items.values()].filter((a) => a.status !== "pending");
    if (resolved.length <= 200) return;
    resolved.sort((a, b) => (a.resolvedAt || 0) - (b.resolvedAt || 0));
    for (const a of resolved.slice(0, resolved.length - 200)) this.items.delete(a.approvalId);
  }
}

export function statusOf(a) {
  if (a.status && a.status !== "resolved" && a.status !== "pending") return a.status;
  if (a.approved === true) return "approved";
  if (a.resolvedBy === "timeout") return "timeout";
  if (a.approved === false) return "denied";
  return a.status || "pending";
}

/** Events received per second over the last `seconds` seconds. */
export class EventRate {
  constructor(seconds = 60) {
    this.seconds = seconds;
    this.buckets = new Map(); // unix second -> count
    this.total = 0;
  }

  hit() {
    const s = Math.floor(Date.now() / 1000);
    this.buckets.set(s, (this.buckets.get(s) || 0) + 1);
    this.total += 1;
    if (this.buckets.size > this.seconds + 5) {
      for (const k of this.buckets.keys()) {
        if (k < s - this.seconds - 1) this.buckets.delete(k);
      }
    }
  }

  /** [{t: unix second, n}] for the last `seconds` complete seconds and the current one. */
  series() {
    const now = Math.floor(Date.now() / 1000);
    const out = [];
    for (let t = now - this.seconds + 1; t <= now; t += 1) out.push({ t, n: this.buckets.get(t) || 0 });
    return out;
  }

  /** The rate over the last complete second. */
  current() {
    const now = Math.floor(Date.now() / 1000);
    return this.buckets.get(now - 1) || 0;
  }
}
