// Approvals: the pending tool approvals (approvals.list, kept live by approval.requested /
// approval.resolved on the app's `*` subscription). Operators and admins approve or deny with a
// reason; viewers see them read-only.

import { h, setText, frameScheduler, refreshTimes, errText } from "../dom.js";
import { approvalCard } from "../approval.js";
import { statusOf } from "../store.js";

export function mount(ctx, root) {
  const { gw, approvals } = ctx;
  document.title = "Approvals · Switchboard";

  const list = h("div.approval-list", { testid: "approvals", attrs: { "aria-label": "Pending approvals" } });
  const empty = h("div.empty", "Nothing waits for a decision. Tool calls that need approval appear here live.");
  const summary = h("p.muted.small", { attrs: { role: "status", "aria-live": "polite" } });
  const error = h("p.notice.notice-error", { attrs: { role: "alert" }, hidden: true });
  const resolvedList = h("ol.resolved-list");
  const resolvedBox = h("section.panel", { hidden: true }, h("h2", "Recently resolved"), resolvedList);
  const readOnly = gw.can("approvals.resolve")
    ? null
    : h("p.notice.notice-info", "Your role can see approvals but not decide them.");

  root.append(h("section.page", h("div.page-head", h("h1", "Approvals"), summary), readOnly, error, list, empty, resolvedBox));

  const cards = new Map(); // approvalId -> {el, update}
  let alive = true;

  const flush = () => {
    if (!alive) return;
    const pending = approvals.pending();
    const keep = new Set(pending.map((a) => a.approvalId));
    for (const [id, c] of cards) {
      if (!keep.has(id)) {
        c.el.remove();
        cards.delete(id);
      }
    }
    let prev = null;
    for (const a of pending) {
      let c = cards.get(a.approvalId);
      if (!c) {
        c = approvalCard(ctx, a, { showSession: true });
        cards.set(a.approvalId, c);
      } else {
        c.update(a);
      }
      const at = prev ? prev.nextSibling : list.firstChild;
      if (at !== c.el) list.insertBefore(c.el, at);
      prev = c.el;
    }
    empty.hidden = pending.length > 0 || approvals.loading;
    list.hidden = pending.length === 0;
    setText(summary, approvals.loading && !pending.length ? "loading…" : `${pending.length} pending`);
    if (approvals.error) {
      setText(error, `Could not list approvals: ${errText(approvals.error)}`);
      error.hidden = false;
    } else {
      error.hidden = true;
    }
    const resolved = approvals.recentlyResolved(10);
    resolvedBox.hidden = resolved.length === 0;
    resolvedList.replaceChildren(
      ...resolved.map((a) => {
        const st = statusOf(a);
        let text = `${a.tool} — ${st === "timeout" ? "timed out" : st}`;
        if (a.resolvedBy && st !== "timeout") text += ` by ${a.resolvedBy}`;
        if (a.reason) text += `: ${a.reason}`;
        return h("li", { data: { approvalId: a.approvalId } }, h(`span.badge.status-${st}`, st), " ", text);
      }),
    );
  };
  const schedule = frameScheduler(flush);
  const off = approvals.on(schedule);
  const clock = setInterval(() => refreshTimes(list), 15000);
  flush();

  return {
    unmount() {
      alive = false;
      off();
      schedule.cancel();
      clearInterval(clock);
    },
  };
}
