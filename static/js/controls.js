// Keyboard-friendly controls shared by the pages: radio groups of buttons and tab lists.

/** Buttons with role=radio inside `root` act as one radio group (arrows move, like native radios);
 *  onChange(value) on each choice. Returns select(value) to choose one from code. */
export function radioGroup(root, onChange) {
  const buttons = [...root.querySelectorAll("[role=radio]")];
  const select = (btn, focus = false) => {
    buttons.forEach((b) => { b.setAttribute("aria-checked", String(b === btn)); b.tabIndex = b === btn ? 0 : -1; });
    if (focus) btn.focus();
    onChange(btn.dataset.value);
  };
  buttons.forEach((b, i) => {
    b.addEventListener("click", () => select(b));
    b.addEventListener("keydown", (ev) => {
      const d = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[ev.key];
      if (d) { ev.preventDefault(); select(buttons[(i + d + buttons.length) % buttons.length], true); }
    });
  });
  return (value) => { const btn = buttons.find((b) => b.dataset.value === value); if (btn) select(btn); };
}

/** A role=tablist: each tab shows its aria-controls panel; arrows move. Returns show(tab). */
export function tabList(list) {
  const tabs = [...list.querySelectorAll("[role=tab]")];
  const show = (tab, focus) => {
    tabs.forEach((t) => {
      const on = t === tab;
      t.setAttribute("aria-selected", String(on));
      t.tabIndex = on ? 0 : -1;
      document.getElementById(t.getAttribute("aria-controls")).hidden = !on;
    });
    if (focus) tab.focus();
  };
  tabs.forEach((t, i) => {
    t.addEventListener("click", () => show(t));
    t.addEventListener("keydown", (ev) => {
      const d = { ArrowRight: 1, ArrowLeft: -1 }[ev.key];
      if (d) { ev.preventDefault(); show(tabs[(i + d + tabs.length) % tabs.length], true); }
    });
  });
  return { tabs, show };
}

/** Show a form message (ok or error); an empty text hides it. */
export function formMessage(el, text, ok) {
  el.hidden = !text;
  el.className = `form-msg ${ok ? "ok" : "err"}`;
  el.textContent = text;
}
