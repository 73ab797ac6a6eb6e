// A modal confirmation on the native <dialog>: focus moves into it, Esc closes it (as "no"),
// and focus returns to where it was.

import { h } from "./dom.js";

/** Resolves true when confirmed, false when cancelled (button, Esc or backdrop). */
export function confirmDialog({ title, body, confirmText = "Confirm", danger = false }) {
  return new Promise((resolve) => {
    const previous = document.activeElement;
    const cancel = h("button.btn", { type: "button" }, "Cancel");
    const ok = h(`button.btn.${danger ? "btn-danger" : "btn-primary"}`, { type: "button" }, confirmText);
    const titleId = `dlg-${Math.random().toString(36).slice(2)}`;
    const dialog = h(
      "dialog.dialog",
      { attrs: { "aria-labelledby": titleId } },
      h("h2", { id: titleId }, title),
      body ? h("p", body) : null,
      h("div.btn-row.dialog-buttons", cancel, ok),
    );
    let done = false;
    const finish = (value) => {
      if (done) return;
      done = true;
      if (dialog.open) dialog.close();
      dialog.remove();
      if (previous && previous.isConnected && typeof previous.focus === "function") previous.focus();
      resolve(value);
    };
    cancel.addEventListener("click", () => finish(false));
    ok.addEventListener("click", () => finish(true));
    dialog.addEventListener("cancel", (e) => {
      e.preventDefault();
      finish(false);
    });
    dialog.addEventListener("close", () => finish(false));
    dialog.addEventListener("click", (e) => {
      if (e.target === dialog) finish(false);
    });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}
