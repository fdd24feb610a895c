// @ts-check
// The app's state, normalised: rooms by id; in each room, confirmed messages by offset
// (with their offsets in order) and our pending sends by client id. Every change bumps the
// revision of what it touched (`rev` of the room list, `room.rev` of one room) and tells
// the subscribers, so a view re-renders only when what it shows has changed. Message
// objects are never changed in place: a view can tell a changed message by its identity.

/** @typedef {import("./protocol.js").Message} Message */
/** @typedef {import("./protocol.js").Pending} Pending */

/**
 * @typedef {object} Room
 * @property {string} id
 * @property {string} name
 * @property {number[]} offsets              Confirmed messages' offsets, ascending.
 * @property {Map<number, Message>} byOffset
 * @property {Map<string, Pending>} pending  Our unacknowledged sends, in the order sent.
 * @property {number | null} head            The highest offset known (null: none yet).
 * @property {boolean} loaded                The latest history page has been asked for.
 * @property {boolean} hasOlder              History before the oldest loaded message.
 * @property {boolean} loadingOlder
 * @property {number} unread                 Messages from others while not shown.
 * @property {Map<string, {name: string, username: string}>} online  user id -> who.
 * @property {Map<string, import("./api.js").Member> | null} members  null: not loaded yet.
 * @property {Set<string>} lookalikes        Members whose display name looks like another's.
 * @property {Map<string, string> | null} handles  Members' usernames -> display names.
 * @property {Map<string, {name: string, until: number}>} typing
 * @property {number} rev                    Bumped on every change to this room.
 * @property {number} presenceRev            Bumped when `online` or `members` change.
 * @property {number} typingRev              Bumped when `typing` changes.
 */

/**
 * @typedef {object} Me
 * @property {string} user_id
 * @property {string} display_name
 * @property {string} [username]
 * @property {string} [email]
 * @property {boolean} [bot]
 * @property {boolean} [username_changeable]
 */

/** @typedef {{room: Room, message: Message, fromOthers: boolean}} Arrival */

export class Store {
  constructor() {
    /** @type {Me | null} */
    this.me = null;
    /** @type {Map<string, Room>} */
    this.rooms = new Map();
    /** @type {string | null} */
    this.current = null;
    /** The connection banner's text; empty when all is well. */
    this.connection = "";
    /** Bumped when the room list, the current room or the banner change. */
    this.rev = 0;
    /** @type {Set<() => void>} */
    this.listeners = new Set();
    /** @type {Set<(arrival: Arrival) => void>} */
    this.arrivals = new Set();
  }

  /** @param {() => void} listener @returns {() => void} */
  subscribe(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Called for each message that is new to the store. @param {(arrival: Arrival) => void} listener */
  onArrival(listener) {
    this.arrivals.add(listener);
    return () => this.arrivals.delete(listener);
  }

  /** @param {Room | null} [room] */
  changed(room) {
    if (room) room.rev += 1;
    else this.rev += 1;
    for (const listener of this.listeners) listener();
  }

  /** @param {Me} me @param {{room_id: string, name: string}[]} rooms */
  signedIn(me, rooms) {
    this.me = me;
    this.rooms.clear();
    for (const room of rooms) this.rooms.set(room.room_id, newRoom(room.room_id, room.name));
    this.current = null;
    this.changed();
  }

  signedOut() {
    this.me = null;
    this.rooms.clear();
    this.current = null;
    this.connection = "";
    this.changed();
  }

  /** @param {string} text */
  setConnection(text) {
    if (this.connection === text) return;
    this.connection = text;
    this.changed();
  }

  /** @returns {Room | undefined} */
  currentRoom() {
    return this.current === null ? undefined : this.rooms.get(this.current);
  }

  /** @param {string} room_id */
  select(room_id) {
    const room = this.rooms.get(room_id);
    if (!room) return;
    this.current = room_id;
    room.unread = 0;
    this.changed();
    this.changed(room);
  }

  /** @param {string} room_id @param {string} name @returns {Room} */
  addRoom(room_id, name) {
    let room = this.rooms.get(room_id);
    if (!room) {
      room = newRoom(room_id, name);
      this.rooms.set(room_id, room);
      this.changed();
    }
    return room;
  }

  /** @param {string} room_id */
  dropRoom(room_id) {
    if (!this.rooms.delete(room_id)) return;
    if (this.current === room_id) this.current = null;
    this.changed();
  }

  /**
   * Inserts a confirmed message in offset order; false if that offset is already there.
   * @param {Room} room @param {Message} message
   */
  insert(room, message) {
    if (room.byOffset.has(message.offset)) return false;
    const offsets = room.offsets;
    // Live messages arrive in order: the common case appends without a search.
    if (offsets.length === 0 || offsets[offsets.length - 1] < message.offset) {
      offsets.push(message.offset);
    } else {
      let low = 0;
      let high = offsets.length;
      while (low < high) {
        const mid = (low + high) >> 1;
        if (offsets[mid] < message.offset) low = mid + 1;
        else high = mid;
      }
      offsets.splice(low, 0, message.offset);
    }
    room.byOffset.set(message.offset, message);
    if (room.head === null || message.offset > room.head) room.head = message.offset;
    return true;
  }

  /** A live message. @param {Room} room @param {Message} message */
  receive(room, message) {
    if (message.client_id) room.pending.delete(message.client_id);
    const added = this.insert(room, message);
    if (room.typing.delete(message.user_id)) room.typingRev += 1;
    const fromOthers = message.user_id !== this.me?.user_id;
    if (added && fromOthers && room.id !== this.current) {
      room.unread += 1;
      this.changed();
    }
    this.changed(room);
    if (added) for (const listener of this.arrivals) listener({ room, message, fromOthers });
  }

  /** A page of history. @param {Room} room @param {Message[]} page @param {boolean} hasOlder */
  history(room, page, hasOlder) {
    for (const message of page) this.insert(room, message);
    if (room.head === null) room.head = 0;
    room.hasOlder = hasOlder;
    this.changed(room);
  }

  /** @param {Room} room @param {Pending} message */
  addPending(room, message) {
    room.pending.set(message.client_id, message);
    this.changed(room);
  }

  /** @param {Room} room @param {string} client_id @param {number} offset @param {number} ts_ms */
  acknowledge(room, client_id, offset, ts_ms) {
    const pending = room.pending.get(client_id);
    if (!pending || !this.me) return;
    room.pending.delete(client_id);
    this.insert(room, {
      offset,
      ts_ms,
      user_id: this.me.user_id,
      display_name: this.me.display_name,
      text: pending.text,
      client_id,
    });
    this.changed(room);
  }

  /** @param {Room} room @param {string} client_id @param {string} reason */
  failed(room, client_id, reason) {
    const pending = room.pending.get(client_id);
    if (!pending) return;
    room.pending.set(client_id, { ...pending, state: "failed", reason });
    this.changed(room);
  }

  /** @param {Room} room @param {string} client_id */
  retrying(room, client_id) {
    const pending = room.pending.get(client_id);
    if (!pending) return;
    room.pending.set(client_id, { ...pending, state: "sending", reason: undefined });
    this.changed(room);
  }

  /**
   * @param {Room} room @param {string} user_id @param {{name: string, username: string}} who
   * @param {boolean} online
   */
  presence(room, user_id, who, online) {
    if (online) room.online.set(user_id, who);
    else room.online.delete(user_id);
    room.presenceRev += 1;
    this.changed(room);
  }

  /** The room's members as the server listed them. @param {Room} room @param {import("./api.js").Member[]} members */
  setMembers(room, members) {
    room.members = new Map(members.map((member) => [member.user_id, member]));
    room.lookalikes = new Set(members.filter((member) => member.lookalike).map((member) => member.user_id));
    room.handles = new Map(members.map((member) => [member.username, member.display_name]));
    room.presenceRev += 1;
    this.changed(room);
  }

  /** @param {Room} room @param {string} user_id @param {string} name @param {number} until */
  typing(room, user_id, name, until) {
    room.typing.set(user_id, { name, until });
    room.typingRev += 1;
    this.changed(room);
  }
}

/** @param {string} id @param {string} name @returns {Room} */
function newRoom(id, name) {
  return {
    id,
    name,
    offsets: [],
    byOffset: new Map(),
    pending: new Map(),
    head: null,
    loaded: false,
    hasOlder: true,
    loadingOlder: false,
    unread: 0,
    online: new Map(),
    members: null,
    lookalikes: new Set(),
    handles: null,
    typing: new Map(),
    rev: 0,
    presenceRev: 0,
    typingRev: 0,
  };
}
