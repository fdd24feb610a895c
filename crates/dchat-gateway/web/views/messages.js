// @ts-check
// The message list: keyed by offset (pending sends by client id), patched in place, so an
// incoming message adds one row and leaves the others, their focus and any selected text
// alone. At most WINDOW rows are in the DOM whatever the room holds: the window follows
// the newest messages while the reader is at the bottom, stays put while they read
// further up (new messages raise the "New messages" button instead), and moves by STEP
// rows as they scroll past its ends; at the oldest loaded message it asks for an older
// page. Whatever changes, the row the reader is looking at stays where it was on screen.
// Messages from others in the open room are read out by a polite live region.

import { html, Component, render } from "../html.js";
import { richText, formatTime } from "../format.js";

/** @typedef {import("../store.js").Store} Store */
/** @typedef {import("../store.js").Room} Room */
/** @typedef {import("../protocol.js").Message} Message */
/** @typedef {import("../protocol.js").Pending} Pending */

/** Rows in the DOM at most. */
export const WINDOW = 200;
/** How far the window moves when the reader scrolls past one of its ends. */
const STEP = 100;
/** Consecutive messages of one sender within this time share one header. */
const GROUP_WINDOW_MS = 5 * 60 * 1000;
/** Within this many pixels of an end, the reader is at that end. */
const NEAR = 80;

/**
 * @typedef {object} RowProps
 * @property {Message | Pending} message
 * @property {boolean} grouped  It continues the previous message's group (no header).
 * @property {boolean} mine
 * @property {boolean} lookalike The sender's display name looks like another member's.
 * @property {Map<string, string> | null} handles  The room's members' usernames, for mentions.
 * @property {string | undefined} me  The reader's username.
 */

/** One message. Re-renders only when its message, grouping, ownership or marks changed. */
class Row extends Component {
  /** @param {RowProps} next */
  shouldComponentUpdate(next) {
    const props = /** @type {RowProps} */ (this.props);
    return (
      next.message !== props.message ||
      next.grouped !== props.grouped ||
      next.mine !== props.mine ||
      next.lookalike !== props.lookalike ||
      next.handles !== props.handles
    );
  }

  /** @param {RowProps} props */
  render({ message, grouped, mine, lookalike, handles, me }) {
    const state = "state" in message ? message.state : null;
    const classes = ["message"];
    if (!grouped) classes.push("group-start");
    if (mine) classes.push("mine");
    if (state === "sending") classes.push("pending");
    if (state === "failed") classes.push("failed");
    const offset = "offset" in message ? message.offset : "";
    return html`<li class=${classes.join(" ")} data-offset=${offset} data-client-id=${message.client_id ?? ""}>
      ${grouped
        ? null
        : html`<div class="message-header">
            <span class="sender">${message.display_name || "unknown"}</span>
            ${message.username ? html`<span class="handle">@${message.username}</span>` : null}
            ${message.bot ? html`<span class="badge">bot</span>` : null}
            ${lookalike
              ? html`<span class="lookalike" title="Another member's name looks the same: check the @username"
                  >look-alike name</span
                >`
              : null}
            <time class="time" dateTime=${new Date(message.ts_ms).toISOString()}>${formatTime(message.ts_ms)}</time>
          </div>`}
      <div class="text">${richText(message.text, handles, me)}</div>
      ${state === "sending" ? html`<span class="state">Sending…</span>` : null}
      ${state === "failed"
        ? html`<span class="state"
            >Not sent: ${"reason" in message ? message.reason || "error" : "error"}.${" "}
            <button type="button" class="link" data-retry=${message.client_id}>Retry</button></span
          >`
        : null}
    </li>`;
  }
}

/** @param {Message | Pending | null | undefined} previous @param {Message | Pending} message */
function continues(previous, message) {
  return Boolean(
    previous && previous.user_id === message.user_id && message.ts_ms - previous.ts_ms < GROUP_WINDOW_MS,
  );
}

/** The index just past `offset` in the ascending `offsets` (or where it would go). */
function indexAfter(/** @type {number[]} */ offsets, /** @type {number} */ offset) {
  let low = 0;
  let high = offsets.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (offsets[mid] <= offset) low = mid + 1;
    else high = mid;
  }
  return low;
}

/**
 * @typedef {object} ListProps
 * @property {Store} store
 * @property {HTMLElement} scroller
 * @property {HTMLElement} newMessages   The "New messages" button.
 * @property {HTMLElement} announcer     The polite live region.
 * @property {(room: Room) => void} loadOlder
 * @property {(room: Room, client_id: string) => void} retry
 * @property {(list: MessageList) => void} attach
 */

/** @typedef {{anchor: {offset: string, top: number} | null, bottom: boolean}} Snapshot */

export class MessageList extends Component {
  /** @param {ListProps} props */
  constructor(props) {
    super(props);
    /** The room shown, and its revision when last rendered. */
    this.shown = "";
    /** Per room: the offset the window ends at, or null to follow the newest. */
    /** @type {Map<string, number | null>} */
    this.ends = new Map();
    /** Scroll to the bottom after the next render (set by our own sends and by arrivals). */
    this.stick = true;
    /** Whether the reader was at the bottom at the last scroll. */
    this.atBottom = true;
    /** @type {HTMLElement | null} */
    this.list = null;
    /** @type {(() => void) | undefined} */
    this.unsubscribe = undefined;
    /** @type {(() => void) | undefined} */
    this.unlisten = undefined;
    /** @type {ResizeObserver | undefined} */
    this.resized = undefined;
    this.onScroll = this.onScroll.bind(this);
    this.onClick = this.onClick.bind(this);
    this.setList = (/** @type {HTMLElement | null} */ element) => {
      this.list = element;
    };
  }

  get props_() {
    return /** @type {ListProps} */ (this.props);
  }

  componentDidMount() {
    const { store, scroller, newMessages, attach } = this.props_;
    this.unsubscribe = store.subscribe(() => {
      const room = store.currentRoom();
      const key = room ? `${room.id}:${room.rev}` : "";
      if (key !== this.shown) this.setState({});
    });
    this.unlisten = store.onArrival(({ room, message, fromOthers }) => this.arrived(room, message, fromOthers));
    scroller.addEventListener("scroll", this.onScroll, { passive: true });
    newMessages.addEventListener("click", () => this.toBottom());
    // A reader at the bottom stays there when the list's box changes size (a window
    // resized, a phone turned, the composer grown). A box that shrinks keeps its scrollTop
    // and fires no scroll event, so `atBottom` still says where the reader was.
    let height = scroller.clientHeight;
    this.resized = new ResizeObserver(() => {
      if (scroller.clientHeight === height) return;
      height = scroller.clientHeight;
      if (this.atBottom) scroller.scrollTop = scroller.scrollHeight;
    });
    this.resized.observe(scroller);
    attach(this);
  }

  componentWillUnmount() {
    this.unsubscribe?.();
    this.unlisten?.();
    this.props_.scroller.removeEventListener("scroll", this.onScroll);
    this.resized?.disconnect();
  }

  /** The room changed: show its newest messages. */
  opened() {
    const room = this.props_.store.currentRoom();
    if (room) this.ends.set(room.id, null);
    this.toBottom();
  }

  /** Back to the newest messages, and stay there. */
  toBottom() {
    const room = this.props_.store.currentRoom();
    if (room) this.ends.set(room.id, null);
    this.stick = true;
    this.props_.newMessages.hidden = true;
    this.setState({});
  }

  /** @param {Room} room @param {Message} message @param {boolean} fromOthers */
  arrived(room, message, fromOthers) {
    if (room.id !== this.props_.store.current) return;
    if (fromOthers) {
      const { announcer } = this.props_;
      announcer.textContent = `${message.display_name || "unknown"}: ${message.text.slice(0, 200)}`;
    }
    const following = (this.ends.get(room.id) ?? null) === null;
    if (following && (this.atBottom || !fromOthers)) this.stick = true;
    else if (fromOthers) this.props_.newMessages.hidden = false;
  }

  onScroll() {
    const { store, scroller, loadOlder } = this.props_;
    const room = store.currentRoom();
    if (!room) return;
    this.atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < NEAR;
    const { start, endIndex } = this.window(room);
    if (scroller.scrollTop < NEAR) {
      if (start > 0) {
        // Move the window up; the row in view stays where it is.
        this.ends.set(room.id, room.offsets[Math.max(WINDOW, endIndex - STEP) - 1]);
        this.setState({});
        return;
      }
      if (room.loaded && room.hasOlder && !room.loadingOlder) {
        if (room.offsets.length >= WINDOW) this.ends.set(room.id, room.offsets[endIndex - 1]);
        loadOlder(room);
      }
    }
    const end = this.ends.get(room.id) ?? null;
    if (this.atBottom) {
      this.props_.newMessages.hidden = true;
      if (end !== null) {
        // Move the window down, or back to following the newest.
        const next = endIndex - 1 + STEP;
        this.ends.set(room.id, next >= room.offsets.length - 1 ? null : room.offsets[next]);
        this.setState({});
      }
    } else if (end === null && room.offsets.length > 0) {
      // The reader left the bottom: the window stops following, so rows do not move away.
      this.ends.set(room.id, room.offsets[endIndex - 1]);
    }
  }

  /** @param {MouseEvent} event */
  onClick(event) {
    const target = /** @type {HTMLElement | null} */ (event.target);
    const client_id = target?.dataset?.retry;
    const room = this.props_.store.currentRoom();
    if (client_id && room) this.props_.retry(room, client_id);
  }

  /** @param {Room} room */
  window(room) {
    const end = this.ends.get(room.id) ?? null;
    const endIndex = end === null ? room.offsets.length : indexAfter(room.offsets, end);
    return { start: Math.max(0, endIndex - WINDOW), endIndex, following: end === null };
  }

  /** @returns {Snapshot} */
  getSnapshotBeforeUpdate() {
    const { scroller } = this.props_;
    const bottom = this.stick || scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < NEAR;
    if (bottom) return { anchor: null, bottom: true };
    // The first row in view, and where it is: it stays there through the update.
    const top = scroller.getBoundingClientRect().top;
    for (const row of /** @type {HTMLCollectionOf<HTMLElement>} */ (this.list?.children ?? [])) {
      const rect = row.getBoundingClientRect();
      if (rect.bottom > top && row.dataset.offset) return { anchor: { offset: row.dataset.offset, top: rect.top - top }, bottom: false };
    }
    return { anchor: null, bottom: false };
  }

  /** @param {unknown} _props @param {unknown} _state @param {Snapshot} snapshot */
  componentDidUpdate(_props, _state, snapshot) {
    const { scroller } = this.props_;
    if (snapshot?.bottom) {
      scroller.scrollTop = scroller.scrollHeight;
      this.atBottom = true;
      this.stick = false;
      return;
    }
    const anchor = snapshot?.anchor;
    const row = anchor && this.list?.querySelector(`[data-offset="${anchor.offset}"]`);
    if (anchor && row) {
      const moved = row.getBoundingClientRect().top - scroller.getBoundingClientRect().top - anchor.top;
      if (moved !== 0) scroller.scrollTop += moved;
    }
  }

  render() {
    const { store } = this.props_;
    const room = store.currentRoom();
    this.shown = room ? `${room.id}:${room.rev}` : "";
    if (!room) return html`<p id="history-status" class="history-status"></p><ol id="messages" class="messages"></ol>`;
    const { start, endIndex, following } = this.window(room);
    const me = store.me?.user_id;
    const handle = store.me?.username;
    /** @type {unknown[]} */
    const rows = [];
    /** @type {Message | Pending | null | undefined} */
    let previous = start > 0 ? room.byOffset.get(room.offsets[start - 1]) : null;
    for (let i = start; i < endIndex; i += 1) {
      const message = /** @type {Message} */ (room.byOffset.get(room.offsets[i]));
      const lookalike = room.lookalikes.has(message.user_id);
      rows.push(html`<${Row} key=${message.offset} message=${message} grouped=${continues(previous, message)} mine=${message.user_id === me} lookalike=${lookalike} handles=${room.handles} me=${handle} />`);
      previous = message;
    }
    if (following) {
      for (const message of room.pending.values()) {
        rows.push(html`<${Row} key=${`c${message.client_id}`} message=${message} grouped=${continues(previous, message)} mine=${true} lookalike=${false} handles=${room.handles} me=${handle} />`);
        previous = message;
      }
    }
    const status = room.loadingOlder
      ? "Loading…"
      : start === 0 && room.loaded && !room.hasOlder
        ? "This is the beginning of the room."
        : "";
    return html`<p id="history-status" class="history-status">${status}</p>
      <ol id="messages" class="messages" onClick=${this.onClick} ref=${this.setList}>
        ${rows}
      </ol>`;
  }
}

/**
 * Renders the message list into the scroller.
 * @param {Omit<ListProps, "attach">} props
 * @returns {MessageList} the list, to tell it of room changes and own sends
 */
export function mountMessages(props) {
  /** @type {MessageList | null} */
  let list = null;
  render(html`<${MessageList} ...${props} attach=${(/** @type {MessageList} */ l) => (list = l)} />`, props.scroller);
  if (!list) throw new Error("the message list did not mount");
  return list;
}
