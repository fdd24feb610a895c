// @ts-check
// The room's header: its name, who is online in it, its members (with their @usernames,
// bot badges and a mark on display names that look like another member's), and the Leave
// button.

import { html, render, useStore } from "../html.js";

/** @typedef {import("../store.js").Store} Store */

/** @param {{store: Store}} props */
function Heading({ store }) {
  useStore(store, (s) => {
    const room = s.currentRoom();
    return room ? `${s.rev}:${room.presenceRev}` : `${s.rev}`;
  });
  const room = store.currentRoom();
  const names = room ? [...room.online.entries()].sort((a, b) => a[1].name.localeCompare(b[1].name)) : [];
  const members = room?.members ? [...room.members.values()] : null;
  members?.sort((a, b) => a.display_name.localeCompare(b.display_name) || a.username.localeCompare(b.username));
  return html`<h1 id="room-title">${room ? room.name : "No room"}</h1>
    <p id="online" class="online" aria-live="polite">
      ${room
        ? html`<span class="muted">${names.length ? "Online: " : "Nobody else is online"}</span>${names.map(
              ([user_id, who], i) =>
                html`<span key=${user_id} class="online-user" data-user-id=${user_id}
                    >${who.name || "unknown"}${who.username ? html` <span class="handle">@${who.username}</span>` : null}</span
                  >${i < names.length - 1 ? ", " : ""}`,
            )}`
        : null}
    </p>
    ${members
      ? html`<details id="members" class="members">
          <summary>${members.length === 1 ? "1 member" : `${members.length} members`}</summary>
          <ul id="member-list">
            ${members.map(
              (member) => html`<li key=${member.user_id} data-user-id=${member.user_id}>
                <span class="sender">${member.display_name}</span> <span class="handle">@${member.username}</span>
                ${member.bot ? html` <span class="badge">bot</span>` : null}
                ${member.lookalike
                  ? html` <span class="lookalike" title="Another member's name looks the same: check the @username"
                      >look-alike name</span
                    >`
                  : null}
              </li>`,
            )}
          </ul>
        </details>`
      : null}`;
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
