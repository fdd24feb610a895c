// @ts-check
// The composer and the typing line. The composer is the page's own textarea, never
// re-rendered, so the caret, the selection and an IME composition are never disturbed;
// this module keeps its draft per room (see route.js), grows it with its text, sends on
// Enter (Shift+Enter for a new line) and tells the room, at most every 2.5 s, that the
// user is typing.

import { html, render, useStore, useEffect, useState } from "../html.js";
import { loadDraft, saveDraft } from "../route.js";

/** @typedef {import("../store.js").Store} Store */

const TYPING_SENT_EVERY_MS = 2500;

/** @param {{store: Store}} props */
function TypingLine({ store }) {
  useStore(store, (s) => {
    const room = s.currentRoom();
    return room ? `${room.id}:${room.typingRev}` : "";
  });
  const [, tick] = useState(0);
  const room = store.currentRoom();
  const now = Date.now();
  const names = [];
  let next = Infinity;
  for (const [user_id, typing] of room?.typing ?? []) {
    if (typing.until > now) {
      names.push(typing.name);
      next = Math.min(next, typing.until);
    } else {
      room?.typing.delete(user_id);
    }
  }
  // Re-render when the first name is due to go.
  useEffect(() => {
    if (next === Infinity) return;
    const timer = setTimeout(() => tick((n) => n + 1), next - now + 50);
    return () => clearTimeout(timer);
  });
  const text =
    names.length === 0 ? "" : names.length === 1 ? `${names[0]} is typing…` : `${names.join(", ")} are typing…`;
  return html`<p id="typing" class="typing" aria-live="polite">${text}</p>`;
}

/**
 * @param {Store} store
 * @param {{
 *   form: HTMLFormElement, input: HTMLTextAreaElement, typingLine: HTMLElement,
 *   send: (text: string) => void, typing: (room_id: string) => void,
 * }} parts
 * @returns {{opened: (previous: string | null) => void, clear: () => void}}
 */
export function mountComposer(store, parts) {
  const { form, input } = parts;
  render(html`<${TypingLine} store=${store} />`, parts.typingLine);
  let typingSentAt = 0;
  const autosize = () => {
    input.style.height = "auto";
    input.style.height = `${Math.min(input.scrollHeight, 200)}px`;
  };
  const submit = (/** @type {Event} */ event) => {
    event.preventDefault();
    const text = input.value;
    if (!store.current || !text.trim()) return;
    input.value = "";
    saveDraft(store.current, "");
    autosize();
    parts.send(text);
  };
  form.addEventListener("submit", submit);
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) submit(event);
  });
  input.addEventListener("input", () => {
    autosize();
    if (!store.current) return;
    saveDraft(store.current, input.value);
    const now = Date.now();
    if (now - typingSentAt > TYPING_SENT_EVERY_MS) {
      typingSentAt = now;
      parts.typing(store.current);
    }
  });
  return {
    // Another room is open: its draft replaces the previous room's, which stays saved.
    opened(previous) {
      if (previous) saveDraft(previous, input.value);
      input.value = store.current ? loadDraft(store.current) : "";
      autosize();
    },
    clear() {
      input.value = "";
      autosize();
    },
  };
}
