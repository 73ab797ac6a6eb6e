// One tool approval as a card: what the tool wants to do, its risk, and — for roles that may
// call approvals.resolve — approve / deny with a reason. Used by the approvals view and inline
// in a session's transcript.

import { h, setText, fmtJson, timeEl, errText } from "./dom.js";
import { sessionHref } from "./router.js";
import { statusOf } from "./store.js";

const STATUS_TEXT = {
  pending: "waiting for a decision",
  approved: "approved",
  denied: "denied",
  timeout: "denied (timed out)",
  resolved: "resolved",
};

/** Returns {el, update(approval)}. */
export function approvalCard(ctx, approval, { showSession = false } = {}) {
  const { gw, approvals } = ctx;
  const el = h("article.approval", {
    testid: "approval",
    data: { approvalId: approval.approvalId },
    attrs: { "aria-label": `Approval for tool ${approval.tool}` },
  });
  const title = h("span.approval-tool");
  const risk = h("span.badge");
  const status = h("span.approval-status", { attrs: { role: "status" } });
  const meta = h("div.approval-meta.muted");
  const input = h("pre.json");
  const inputBox = h("details.approval-input", { open: true }, h("summary", "Input"), input);
  const error = h("p.notice.notice-error", { attrs: { role: "alert" }, hidden: true });
  let controls = null;
  let busy = false;

  el.append(
    h("header.approval-head", h("span.approval-icon", { attrs: { "aria-hidden": "true" } }, "⚠"), title, risk, status),
    meta,
    inputBox,
    error,
  );

  if (gw.can("approvals.resolve")) {
    const reason = h("input.input", {
      testid: "deny-reason",
      type: "text",
      placeholder: "Reason (optional)",
      attrs: { "aria-label": "Reason for the decision", maxlength: "500" },
    });
    const approve = h("button.btn.btn-primary", { type: "button", testid: "approve" }, "Approve");
    const deny = h("button.btn.btn-danger", { type: "button", testid: "deny" }, "Deny");
    const decide = async (approved) => {
      if (busy) return;
      busy = true;
      approve.disabled = true;
      deny.disabled = true;
      error.hidden = true;
      const why = reason.value.trim();
      const params = { approvalId: approval.approvalId, approved };
      if (why) params.reason = why;
      try {
        await gw.call("approvals.resolve", params);
        approvals.markResolved(approval.approvalId, approved, why || undefined);
      } catch (e) {
        setText(error, `Could not ${approved ? "approve" : "deny"}: ${errText(e)}`);
        error.hidden = false;
        approve.disabled = false;
        deny.disabled = false;
      } finally {
        busy = false;
      }
    };
    approve.addEventListener("click", () => decide(true));
    deny.addEventListener("click", () => decide(false));
    reason.addEventListener("keydown", (e) => {
      if (e.key === "Enter") {
        e.preventDefault();
        decide(false);
      }
    });
    controls = h("div.approval-controls", reason, h("div.btn-row", approve, deny));
    el.append(controls);
  }

  let last = null;
  let lastStatus = null;
  const update = (a) => {
    const st = statusOf(a);
    // The input is open while a decision is due, folded once decided.
    if (st !== lastStatus) inputBox.open = st === "pending";
    lastStatus = st;
    const key = `${st}|${a.resolvedBy}|${a.reason}|${a.risk}`;
    if (key === last) return;
    last = key;
    setText(title, a.tool || "tool");
    risk.className = `badge risk-${a.risk || "unknown"}`;
    setText(risk, `${a.risk || "unknown"} risk`);
    el.dataset.status = st;
    let text = STATUS_TEXT[st] || st;
    if (st !== "pending" && a.resolvedBy && st !== "timeout") text += ` by ${a.resolvedBy}`;
    if (a.reason) text += `: ${a.reason}`;
    setText(status, text);
    status.className = `approval-status status-${st}`;
    const metaParts = [];
    if (showSession && a.sessionId) {
      metaParts.push(h("a", { href: sessionHref(a.sessionId) }, `session ${a.sessionId}`));
    }
    if (a.createdAt) metaParts.push(h("span", "asked ", timeEl(a.createdAt)));
    if (a.toolCallId) metaParts.push(h("span.mono", a.toolCallId));
    meta.replaceChildren(...metaParts.flatMap((p, i) => (i ? [" · ", p] : [p])));
    const json = fmtJson(a.input);
    if (input.textContent !== json) input.textContent = json;
    if (controls) controls.hidden = st !== "pending";
    if (st !== "pending") error.hidden = true;
  };
  update(approval);
  return { el, update };
}
