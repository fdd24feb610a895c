// @ts-check
// The room's header: its name, who is online in it, and the Leave button.

import { html, render, useStore } from "../html.js";

/** @typedef {import("../store.js").Store} Store */

/** @param {{store: Store}} props */
function Heading({ store }) {
  useStore(store, (s) => {
    const room = s.currentRoom();
    return room ? `${s.rev}:${room.presenceRev}` : `${s.rev}`;
  });
  const room = store.currentRoom();
  const names = room ? [...room.online.entries()].sort((a, b) => a[1].localeCompare(b[1])) : [];
  return html`<h1 id="room-title">${room ? room.name : "No room"}</h1>
    <p id="online" class="online" aria-live="polite">
      ${room
        ? html`<span class="muted">${names.length ? "Online: " : "Nobody else is online"}</span>${names.map(
              ([user_id, name], i) =>
                html`<span key=${user_id} class="online-user" data-user-id=${user_id}>${name || "unknown"}</span>${i <
                  names.length - 1
                    ? ", "
                    : ""}`,
            )}`
        : null}
    </p>`;
}

/** @param {Store} store @param {{heading: HTMLElement, leave: HTMLElement}} parts */
export function mountHeader(store, parts) {
  render(html`<${Heading} store=${store} />`, parts.heading);
  const showLeave = () => {
    parts.leave.hidden = !store.currentRoom();
  };
  store.subscribe(showLeave);
  showLeave();
}
