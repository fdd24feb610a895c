// @ts-check
// The sidebar's lists: the user's rooms (with unread counts, the open one marked) and,
// when "Browse rooms" is open, the public rooms they are not in, each with a Join button.

import { html, render, useStore, useState, useEffect } from "../html.js";

/** @typedef {import("../store.js").Store} Store */

/** @param {{store: Store, onSelect: (room_id: string) => void}} props */
function RoomList({ store, onSelect }) {
  useStore(store, (s) => s.rev);
  return html`${[...store.rooms.values()].map(
    (room) => html`<li key=${room.id}>
      <button
        type="button"
        class="room-button"
        data-room-id=${room.id}
        aria-current=${room.id === store.current ? "true" : undefined}
        onClick=${() => onSelect(room.id)}
      >
        <span class="room-name">${room.name}</span>
        ${room.unread > 0
          ? html`<span class="unread" aria-label=${`${room.unread} unread`}>${String(room.unread)}</span>`
          : null}
      </button>
    </li>`,
  )}`;
}

/**
 * @typedef {object} PublicRoom
 * @property {string} room_id
 * @property {string} name
 * @property {number} member_count
 */

/**
 * @param {{
 *   store: Store,
 *   open: boolean,
 *   list: () => Promise<PublicRoom[]>,
 *   join: (room: PublicRoom) => Promise<string | null>,
 * }} props  `join` answers an error to show, or null once joined.
 */
function PublicList({ store, open, list, join }) {
  useStore(store, (s) => s.rev);
  /** @type {[PublicRoom[] | string | null, (value: PublicRoom[] | string | null) => void]} */
  const [rooms, setRooms] = useState(/** @type {PublicRoom[] | string | null} */ (null));
  useEffect(() => {
    if (!open) return;
    let current = true;
    setRooms(null);
    list().then(
      (found) => current && setRooms(found),
      (/** @type {unknown} */ err) => current && setRooms(String(err instanceof Error ? err.message : err)),
    );
    return () => {
      current = false;
    };
  }, [open]);
  if (!open) return null;
  if (rooms === null) return html`<li class="muted">Loading…</li>`;
  if (typeof rooms === "string") return html`<li class="form-error">${rooms}</li>`;
  const left = rooms.filter((room) => !store.rooms.has(room.room_id));
  if (left.length === 0) return html`<li class="muted">You are in every room.</li>`;
  return html`${left.map(
    (room) => html`<li key=${room.room_id}>
      <span class="public-name">${room.name}</span>
      <span class="muted">${` ${room.member_count} members`}</span>
      <button
        type="button"
        class="quiet"
        data-room-id=${room.room_id}
        onClick=${async () => {
          const error = await join(room);
          if (error) setRooms(error);
        }}
      >
        Join
      </button>
    </li>`,
  )}`;
}

/**
 * @param {Store} store
 * @param {{
 *   roomList: HTMLElement, browse: HTMLDetailsElement, publicList: HTMLElement,
 *   onSelect: (room_id: string) => void,
 *   list: () => Promise<PublicRoom[]>,
 *   join: (room: PublicRoom) => Promise<string | null>,
 * }} parts
 */
export function mountRooms(store, parts) {
  render(html`<${RoomList} store=${store} onSelect=${parts.onSelect} />`, parts.roomList);
  const showPublic = () =>
    render(
      html`<${PublicList} store=${store} open=${parts.browse.open} list=${parts.list} join=${parts.join} />`,
      parts.publicList,
    );
  parts.browse.addEventListener("toggle", showPublic);
  showPublic();
}
