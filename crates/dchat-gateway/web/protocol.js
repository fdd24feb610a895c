// @ts-check
// The WebSocket protocol, as the server speaks it (dchat-gateway's live/protocol.rs): the
// frames' shapes as JSDoc types, and one handler per server frame type, each of which
// changes the store and nothing else. Views follow the store.

/** @typedef {import("./store.js").Store} Store */

/**
 * A message of a room's log, as history pages and live frames carry it.
 * @typedef {object} Message
 * @property {number} offset      Its place in the room: 1, 2, 3, ... with no gaps.
 * @property {number} ts_ms       When the server stored it.
 * @property {string} user_id
 * @property {string} display_name
 * @property {string} [username]  The sender's unique handle (shown after an at sign).
 * @property {boolean} [bot]      The sender is a bot.
 * @property {string} text
 * @property {string | null} [client_id]  The sender's idempotency key, if it gave one.
 */

/**
 * A message of ours the server has not acknowledged yet.
 * @typedef {object} Pending
 * @property {string} client_id
 * @property {string} text
 * @property {number} ts_ms
 * @property {string} user_id
 * @property {string} display_name
 * @property {string} [username]
 * @property {boolean} [bot]
 * @property {"sending" | "failed"} state
 * @property {string} [reason]  Why it failed.
 */

/** @typedef {{type: "message", room_id: string} & Message} MessageFrame */
/** @typedef {{type: "subscribed", room_id: string, head: number, ref?: unknown}} SubscribedFrame */
/** @typedef {{type: "unsubscribed", room_id: string, ref?: unknown}} UnsubscribedFrame */
/** @typedef {{type: "ack", room_id: string, client_id: string | null, offset: number, ts_ms: number, ref?: unknown}} AckFrame */
/** @typedef {{type: "presence", room_id: string, user_id: string, display_name: string, username?: string, status: "online" | "offline"}} PresenceFrame */
/** @typedef {{type: "typing", room_id: string, user_id: string, display_name: string, username?: string}} TypingFrame */
/** @typedef {{type: "error", code: string, message: string, ref?: unknown, room_id?: string | null}} ErrorFrame */
/** @typedef {MessageFrame | SubscribedFrame | UnsubscribedFrame | AckFrame | PresenceFrame | TypingFrame | ErrorFrame} ServerFrame */

/**
 * What the client sends.
 * @typedef {{type: "subscribe", room_id: string, after?: number}
 *   | {type: "unsubscribe", room_id: string}
 *   | {type: "send", room_id: string, text: string, client_id: string, ref: string}
 *   | {type: "typing", room_id: string}} ClientFrame
 */

/** How long a "typing" frame keeps its sender's name on the typing line. */
export const TYPING_SHOWN_MS = 4000;

/** @type {{[K in ServerFrame["type"]]: (store: Store, frame: Extract<ServerFrame, {type: K}>) => void}} */
export const handlers = {
  message(store, frame) {
    const room = store.rooms.get(frame.room_id);
    if (!room) return;
    /** @type {Message} */
    const message = {
      offset: frame.offset,
      ts_ms: frame.ts_ms,
      user_id: frame.user_id,
      display_name: frame.display_name,
      username: frame.username,
      bot: frame.bot,
      text: frame.text,
      client_id: frame.client_id,
    };
    store.receive(room, message);
  },
  subscribed(store, frame) {
    const room = store.rooms.get(frame.room_id);
    if (room && room.head === null) room.head = frame.head;
  },
  unsubscribed() {},
  ack(store, frame) {
    const room = store.rooms.get(frame.room_id);
    if (room && frame.client_id) store.acknowledge(room, frame.client_id, frame.offset, frame.ts_ms);
  },
  presence(store, frame) {
    const room = store.rooms.get(frame.room_id);
    if (room) {
      const who = { name: frame.display_name, username: frame.username ?? "" };
      store.presence(room, frame.user_id, who, frame.status === "online");
    }
  },
  typing(store, frame) {
    const room = store.rooms.get(frame.room_id);
    if (room && frame.user_id !== store.me?.user_id) {
      store.typing(room, frame.user_id, frame.display_name, Date.now() + TYPING_SHOWN_MS);
    }
  },
  error(store, frame) {
    const room = frame.room_id ? store.rooms.get(frame.room_id) : undefined;
    const ref = typeof frame.ref === "string" ? frame.ref : null;
    if (room && ref && room.pending.has(ref)) {
      store.failed(room, ref, frame.code === "rate_limited" ? "sending too fast" : frame.message);
      return;
    }
    if (ref) {
      // A send refused before the server knew its room: find the pending message by its ref.
      for (const candidate of store.rooms.values()) {
        if (candidate.pending.has(ref)) {
          store.failed(candidate, ref, frame.code === "rate_limited" ? "sending too fast" : frame.message);
          return;
        }
      }
    }
    if (room && !ref && frame.code === "forbidden") {
      // We left this room (here or in another tab), or were never in it.
      store.dropRoom(room.id);
    }
  },
};

/**
 * Hands a parsed frame to its handler; frames of a type this client does not know are
 * ignored, so a newer server can add frame types.
 * @param {Store} store
 * @param {unknown} frame
 */
export function dispatch(store, frame) {
  if (typeof frame !== "object" || frame === null || !("type" in frame)) return;
  const type = /** @type {ServerFrame["type"]} */ (frame.type);
  const handler = /** @type {((store: Store, frame: any) => void) | undefined} */ (
    Object.prototype.hasOwnProperty.call(handlers, type) ? handlers[type] : undefined
  );
  handler?.(store, frame);
}
