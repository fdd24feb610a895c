// @ts-check
// The dchat web app: log in or register, then chat in rooms with live delivery over the
// WebSocket. This module wires the parts together: the store (store.js) holds the state,
// the protocol module (protocol.js) turns server frames into store changes, and each
// region of the page (views/) follows the store and re-renders only what changed.

import { api, ApiError, explain, whenSessionEnds } from "./api.js";
import { ChatSocket } from "./socket.js";
import { Store } from "./store.js";
import { dispatch } from "./protocol.js";
import { mountMessages } from "./views/messages.js";
import { mountRooms } from "./views/rooms.js";
import { mountHeader } from "./views/header.js";
import { mountComposer } from "./views/composer.js";
import { applyTheme, openSettings } from "./views/settings.js";
import { roomInAddress, showRoomInAddress, followAddress, clearDrafts, saveUnsent, takeUnsent } from "./route.js";

/** @typedef {import("./store.js").Room} Room */
/** @typedef {import("./protocol.js").Pending} Pending */

const PAGE = 50;
// The server's rule (dchat-core's RoomId): it starts with a letter or digit, no "..".
const ROOM_ID_PATTERN = /^(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** @param {string} id @returns {any} the element; the page has every id this app asks for */
const $ = (id) => document.getElementById(id);

const store = new Store();
/** @type {ChatSocket | null} */
let socket = null;

function clientId() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// ---------------------------------------------------------------- the regions

const messages = mountMessages({
  store,
  scroller: $("scroller"),
  newMessages: $("new-messages"),
  announcer: $("announcer"),
  loadOlder: (room) => loadOlder(room, false),
  retry: (room, client_id) => {
    store.retrying(room, client_id);
    const message = room.pending.get(client_id);
    if (message) sendFrame(room, message);
  },
});

const composer = mountComposer(store, {
  form: $("composer"),
  input: $("composer-text"),
  typingLine: $("typing-line"),
  send: onSend,
  typing: (room_id) => socket?.send({ type: "typing", room_id }),
});

mountHeader(store, { heading: $("room-heading"), leave: $("leave") });

mountRooms(store, {
  roomList: $("room-list"),
  browse: $("browse"),
  publicList: $("public-list"),
  onSelect: (room_id) => selectRoom(room_id, true),
  list: async () => (await api.publicRooms()).rooms,
  join: async (room) => {
    try {
      await api.joinRoom(room.room_id);
      addRoom(room.room_id, room.name);
      return null;
    } catch (err) {
      return explain(err);
    }
  },
});

store.subscribe(() => {
  const banner = $("connection");
  banner.textContent = store.connection;
  banner.hidden = !store.connection;
});

// ---------------------------------------------------------------- authentication view

function showAuth() {
  $("chat-view").hidden = true;
  $("auth-view").hidden = false;
  // Whoever comes back has an account: the login form, not the registration one.
  selectTab(false);
  $("login-name").focus();
}

/** @param {boolean} register */
function selectTab(register) {
  $("tab-login").setAttribute("aria-selected", String(!register));
  $("tab-register").setAttribute("aria-selected", String(register));
  $("login-form").hidden = register;
  $("register-form").hidden = !register;
}

/**
 * A sign-in whose password was right and which waits for the second factor: kept in
 * memory only, for one attempt at the code, so the password field can be emptied at once.
 * @type {{login: string, password: string} | null}
 */
let awaitingCode = null;

/** Shows or hides the second-factor step of the login form. @param {boolean} asking */
function askForCode(asking) {
  $("login-code-group").hidden = !asking;
  $("login-password-group").hidden = asking;
  $("login-code").value = "";
  if (!asking) awaitingCode = null;
}

/** @param {Event} event */
async function onLogin(event) {
  event.preventDefault();
  const error = $("login-error");
  error.textContent = "";
  const login = awaitingCode?.login ?? $("login-name").value.trim();
  const password = awaitingCode?.password ?? $("login-password").value;
  const code = awaitingCode ? $("login-code").value.trim() : "";
  // A failed attempt, or one that goes on to the code, leaves no password in the form.
  $("login-password").value = "";
  if (!login || !password || (awaitingCode && !code)) {
    error.textContent = awaitingCode ? "Enter the code from your authenticator app." : "Enter your username (or email) and password.";
    return;
  }
  try {
    const session = await api.login(login, password, code);
    askForCode(false);
    startChat(session.user);
  } catch (err) {
    if (err instanceof ApiError && err.code === "second_factor_required") {
      askForCode(true);
      awaitingCode = { login, password };
      error.textContent = "Enter the 6-digit code from your authenticator app, or a recovery code.";
      $("login-code").focus();
      return;
    }
    // A wrong code starts over: the password is asked again, like any failed sign-in.
    askForCode(false);
    error.textContent = explain(err);
  }
}

/** @param {Event} event */
async function onRegister(event) {
  event.preventDefault();
  const error = $("register-error");
  error.textContent = "";
  const username = $("register-username").value.trim();
  const email = $("register-email").value.trim();
  const display_name = $("register-display").value.trim() || username;
  const password = $("register-password").value;
  if (!/^[A-Za-z0-9_.-]{3,32}$/.test(username)) {
    error.textContent = "Username: 3 to 32 letters, digits, _ - or .";
    return;
  }
  if (password.length < 8) {
    error.textContent = "Password: at least 8 characters.";
    return;
  }
  try {
    const session = await api.register({ username, email, display_name, password });
    startChat(session.user);
  } catch (err) {
    error.textContent = explain(err);
  }
}

// ---------------------------------------------------------------- chat view

/** @param {import("./api.js").User} me */
async function startChat(me) {
  $("auth-view").hidden = true;
  $("chat-view").hidden = false;
  $("me-name").textContent = me.display_name;
  $("me-name").title = `@${me.username}`;
  /** @type {import("./api.js").RoomSummary[]} */
  let rooms = [];
  try {
    rooms = (await api.myRooms()).rooms;
  } catch (err) {
    store.setConnection(explain(err));
  }
  store.signedIn(me, rooms);
  // Messages that were waiting when the last session ended go now, with their client ids:
  // the server stores each once, even if it had stored one before the end.
  const unsent = takeUnsent(me.user_id);
  if (unsent === null) clearDrafts();
  for (const { room_id, message } of unsent ?? []) {
    const room = store.rooms.get(room_id);
    if (room) store.addPending(room, { ...message, state: "sending" });
  }
  socket = new ChatSocket({ onOpen, onFrame: measured, onDown, onLoggedOut: sessionEnded });
  socket.connect();
  const wanted = roomInAddress();
  const first = wanted && store.rooms.has(wanted) ? wanted : defaultRoom();
  if (first) selectRoom(first, false);
}

function defaultRoom() {
  return store.rooms.has("general") ? "general" : store.rooms.keys().next().value;
}

/** @param {Room} room */
function subscribe(room) {
  /** @type {import("./protocol.js").ClientFrame} */
  const frame = { type: "subscribe", room_id: room.id };
  if (room.head !== null) frame.after = room.head;
  socket?.send(frame);
}

function onOpen() {
  store.setConnection("");
  for (const room of store.rooms.values()) {
    subscribe(room);
    // Messages that were never acknowledged go again with the same client_id: the server
    // stores each client_id once, so a retry can never duplicate a message.
    for (const message of room.pending.values()) {
      if (message.state === "sending") sendFrame(room, message);
    }
  }
}

function onDown() {
  store.setConnection("Connection lost. Reconnecting…");
  // A browser does not say why a WebSocket upgrade failed: if it was the session, only
  // asking tells, and reconnecting would never succeed.
  api.me().catch((err) => {
    if (err instanceof ApiError && err.status === 401) sessionEnded();
  });
}

/**
 * The session ended (it expired, or was signed out elsewhere): what was not sent yet and
 * the drafts are kept for the same user's next sign-in, which opens the same room.
 */
function sessionEnded() {
  const me = store.me;
  if (!me) return;
  /** @type {{room_id: string, message: Pending}[]} */
  const unsent = [];
  for (const room of store.rooms.values()) {
    for (const message of room.pending.values()) unsent.push({ room_id: room.id, message });
  }
  saveUnsent(me.user_id, unsent);
  socket?.stop();
  socket = null;
  store.signedOut();
  composer.clear();
  showAuth();
  $("login-name").value = me.username || me.email || "";
  const waiting = unsent.length === 1 ? "1 unsent message" : `${unsent.length} unsent messages`;
  $("login-error").textContent =
    `Your session ended. Sign in again to continue${unsent.length ? `; ${waiting} will be sent` : ""}.`;
  $("login-password").focus();
}

/** Signing out here: nothing of this user's stays in the tab. */
function resetChat() {
  socket?.stop();
  socket = null;
  store.signedOut();
  clearDrafts();
  composer.clear();
  $("login-password").value = "";
  $("register-password").value = "";
  askForCode(false);
}

/**
 * Hands a frame to the store. When `localStorage["dchat:measure"]` is "1" (set by
 * `dchat-bench webapp`), each message frame is timed from its arrival to the end of its
 * render, layout included, as a `dchat:message` performance measure.
 * @param {unknown} frame
 */
function measured(frame) {
  if (!measuring || typeof frame !== "object" || frame === null || !("type" in frame) || frame.type !== "message") {
    dispatch(store, frame);
    return;
  }
  const start = performance.now();
  dispatch(store, frame);
  // Preact renders in a microtask queued by the dispatch; this one runs after it.
  queueMicrotask(() => {
    void $("scroller").scrollHeight;
    performance.measure("dchat:message", { start, end: performance.now() });
  });
}

let measuring = false;
try {
  measuring = localStorage.getItem("dchat:measure") === "1";
} catch {
  measuring = false;
}

// ---------------------------------------------------------------- rooms

/** @param {string} room_id @param {boolean} chosen the user picked it (a new history entry) */
async function selectRoom(room_id, chosen) {
  const room = store.rooms.get(room_id);
  if (!room) return;
  const previous = store.current;
  store.select(room_id);
  showRoomInAddress(room_id, chosen);
  if (previous !== room_id) composer.opened(previous);
  messages.opened();
  document.body.classList.remove("sidebar-open");
  $("toggle-sidebar").setAttribute("aria-expanded", "false");
  loadMembers(room);
  if (!room.loaded) {
    await loadOlder(room, true);
    room.loaded = true;
    store.changed(room);
  }
}

/**
 * Loads the room's members, with their handles and look-alike marks, each time the room
 * is opened. Without them the room still works: the list and the marks wait for the next.
 * @param {Room} room
 */
function loadMembers(room) {
  api.members(room.id).then(
    (answer) => store.setMembers(room, answer.members),
    () => {},
  );
}

/**
 * Loads the page before the oldest message loaded (or the latest page, the first time).
 * @param {Room} room @param {boolean} first
 */
async function loadOlder(room, first) {
  if (room.loadingOlder || (!first && !room.hasOlder)) return;
  room.loadingOlder = true;
  store.changed(room);
  const oldest = room.offsets[0];
  const before = first || oldest === undefined ? Number.MAX_SAFE_INTEGER : oldest;
  try {
    const page = (await api.history(room.id, before, PAGE)).messages;
    room.loadingOlder = false;
    store.history(room, page, page.length === PAGE);
  } catch (err) {
    room.loadingOlder = false;
    store.changed(room);
    store.setConnection(explain(err));
  }
}

/** @param {string} room_id @param {string} name */
function addRoom(room_id, name) {
  const known = store.rooms.has(room_id);
  const room = store.addRoom(room_id, name);
  if (!known) subscribe(room);
  selectRoom(room_id, true);
}

// Whenever no room is open (the open one was left here, in another tab or by the server),
// the default one opens.
store.subscribe(() => {
  if (!store.me || store.current !== null) return;
  queueMicrotask(() => {
    const next = store.me && store.current === null ? defaultRoom() : undefined;
    if (next) selectRoom(next, false);
  });
});

async function onLeave() {
  const room_id = store.current;
  if (!room_id) return;
  try {
    await api.leaveRoom(room_id);
    socket?.send({ type: "unsubscribe", room_id });
    store.dropRoom(room_id);
  } catch (err) {
    store.setConnection(explain(err));
  }
}

/** @param {Event} event */
async function onCreate(event) {
  event.preventDefault();
  const error = $("create-error");
  error.textContent = "";
  const room_id = $("create-id").value.trim();
  const name = $("create-name").value.trim();
  if (!ROOM_ID_PATTERN.test(room_id)) {
    error.textContent = "Room id: 1 to 64 letters, digits, _ - or ., starting with a letter or digit, no ..";
    return;
  }
  if (!name || name.length > 100) {
    error.textContent = "Name: 1 to 100 characters.";
    return;
  }
  try {
    const { created } = await api.createRoom(room_id, name);
    if (!created) {
      // The server changes nothing for an id that is taken; joining is a separate step.
      error.textContent = "That room id is taken. Pick another, or join it from the list of rooms.";
      return;
    }
    $("create-form").reset();
    $("create").open = false;
    addRoom(room_id, name);
  } catch (err) {
    error.textContent = explain(err);
  }
}

// ---------------------------------------------------------------- sending

/** @param {Room} room @param {Pending} message */
function sendFrame(room, message) {
  socket?.send({ type: "send", room_id: room.id, text: message.text, client_id: message.client_id, ref: message.client_id });
}

/** @param {string} text */
function onSend(text) {
  const room = store.currentRoom();
  if (!room || !store.me) return;
  /** @type {Pending} */
  const message = {
    client_id: clientId(),
    text,
    state: "sending",
    ts_ms: Date.now(),
    user_id: store.me.user_id,
    display_name: store.me.display_name,
    username: store.me.username,
    bot: store.me.bot,
  };
  messages.toBottom();
  store.addPending(room, message);
  // When the socket is down the message waits, marked as sending, and goes on reconnect.
  sendFrame(room, message);
}

// ---------------------------------------------------------------- start

function wire() {
  whenSessionEnds(sessionEnded);
  $("tab-login").addEventListener("click", () => selectTab(false));
  $("tab-register").addEventListener("click", () => selectTab(true));
  $("login-form").addEventListener("submit", onLogin);
  $("register-form").addEventListener("submit", onRegister);
  $("logout").addEventListener("click", async () => {
    try {
      await api.logout();
    } catch {
      // Logged out already, or the server is away: either way the session ends here.
    }
    resetChat();
    showAuth();
  });
  $("leave").addEventListener("click", onLeave);
  $("open-settings").addEventListener("click", () => {
    const me = store.me;
    if (!me) return;
    openSettings($("settings"), {
      me,
      onRenamed: (name) => {
        me.display_name = name;
        $("me-name").textContent = name;
      },
      onChanged: (changes) => {
        Object.assign(me, changes);
        $("me-name").title = `@${me.username}`;
      },
      onSignedOutEverywhere: () => {
        $("settings").close();
        resetChat();
        showAuth();
      },
    });
  });
  $("create-form").addEventListener("submit", onCreate);
  $("toggle-sidebar").addEventListener("click", () => {
    const open = document.body.classList.toggle("sidebar-open");
    $("toggle-sidebar").setAttribute("aria-expanded", String(open));
  });
  followAddress((room_id) => {
    if (store.rooms.has(room_id) && store.current !== room_id) selectRoom(room_id, false);
  });
}

async function main() {
  applyTheme();
  wire();
  try {
    startChat(await api.me());
  } catch {
    showAuth();
  }
}

main();
