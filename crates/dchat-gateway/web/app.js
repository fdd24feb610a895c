// The dchat web app: log in or register, then chat in rooms with live delivery over the
// WebSocket. State lives in `state`; every change ends in a render of what it touched.

import { api, explain } from "./api.js";
import { ChatSocket } from "./socket.js";
import { el, messageItem } from "./render.js";

const PAGE = 50;
const TYPING_SHOWN_MS = 4000;
const TYPING_SENT_EVERY_MS = 2500;
// The server's rule (dchat-core's RoomId): it starts with a letter or digit, no "..".
const ROOM_ID_PATTERN = /^(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const $ = (id) => document.getElementById(id);

const state = {
  me: null,
  rooms: new Map(),
  current: null,
  socket: null,
  typingSentAt: 0,
};

function newRoom(room_id, name) {
  return {
    id: room_id,
    name,
    messages: [], // confirmed messages, by offset
    pending: new Map(), // client_id -> message not yet acknowledged
    head: null, // highest offset known
    loaded: false,
    hasOlder: true,
    loadingOlder: false,
    unread: 0,
    online: new Map(),
    typing: new Map(),
  };
}

function clientId() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// ---------------------------------------------------------------- authentication view

function showAuth() {
  $("chat-view").hidden = true;
  $("auth-view").hidden = false;
  $("login-name").focus();
}

function selectTab(register) {
  $("tab-login").setAttribute("aria-selected", String(!register));
  $("tab-register").setAttribute("aria-selected", String(register));
  $("login-form").hidden = register;
  $("register-form").hidden = !register;
}

async function onLogin(event) {
  event.preventDefault();
  const error = $("login-error");
  error.textContent = "";
  const login = $("login-name").value.trim();
  const password = $("login-password").value;
  if (!login || !password) {
    error.textContent = "Enter your username (or email) and password.";
    return;
  }
  try {
    const session = await api.login(login, password);
    startChat(session.user);
  } catch (err) {
    error.textContent = explain(err);
  }
}

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

async function startChat(me) {
  state.me = me;
  $("auth-view").hidden = true;
  $("chat-view").hidden = false;
  $("me-name").textContent = me.display_name;
  let rooms = [];
  try {
    rooms = (await api.myRooms()).rooms;
  } catch (err) {
    showConnection(explain(err));
  }
  state.rooms.clear();
  for (const room of rooms) state.rooms.set(room.room_id, newRoom(room.room_id, room.name));
  renderRoomList();
  state.socket = new ChatSocket({ onOpen, onFrame, onDown, onLoggedOut });
  state.socket.connect();
  const first = state.rooms.has("general") ? "general" : rooms[0]?.room_id;
  if (first) selectRoom(first);
}

function showConnection(text) {
  const banner = $("connection");
  banner.textContent = text || "";
  banner.hidden = !text;
}

function subscribe(room) {
  const frame = { type: "subscribe", room_id: room.id };
  if (room.head !== null) frame.after = room.head;
  state.socket?.send(frame);
}

function onOpen() {
  showConnection("");
  for (const room of state.rooms.values()) {
    subscribe(room);
    // Messages that were never acknowledged go again with the same client_id: the server
    // stores each client_id once, so a retry can never duplicate a message.
    for (const message of room.pending.values()) {
      if (message.state === "sending") sendFrame(room, message);
    }
  }
}

function onDown() {
  showConnection("Connection lost. Reconnecting…");
}

function onLoggedOut() {
  resetChat();
  showAuth();
}

function resetChat() {
  state.socket?.stop();
  state.socket = null;
  state.rooms.clear();
  state.current = null;
  state.me = null;
}

function onFrame(frame) {
  const room = state.rooms.get(frame.room_id);
  switch (frame.type) {
    case "message":
      if (room) receive(room, frame);
      break;
    case "subscribed":
      if (room && room.head === null) room.head = frame.head;
      break;
    case "ack":
      if (room) acknowledge(room, frame);
      break;
    case "presence":
      if (!room) break;
      if (frame.status === "online") room.online.set(frame.user_id, frame.display_name);
      else room.online.delete(frame.user_id);
      if (room.id === state.current) renderHeader();
      break;
    case "typing":
      if (!room || frame.user_id === state.me?.user_id) break;
      room.typing.set(frame.user_id, { name: frame.display_name, until: Date.now() + TYPING_SHOWN_MS });
      if (room.id === state.current) renderTyping();
      setTimeout(renderTyping, TYPING_SHOWN_MS + 50);
      break;
    case "error":
      onError(room, frame);
      break;
    default:
      break;
  }
}

function onError(room, frame) {
  const pending = room && frame.ref ? room.pending.get(frame.ref) : null;
  if (pending) {
    pending.state = "failed";
    pending.reason = frame.code === "rate_limited" ? "sending too fast" : frame.message;
    if (room.id === state.current) renderMessages();
    return;
  }
  if (room && frame.code === "forbidden" && !frame.ref) {
    // We left this room (here or in another tab), or were never in it.
    dropRoom(room.id);
  }
}

// Inserts a confirmed message in offset order; false if it was already there.
function insertMessage(room, message) {
  const list = room.messages;
  let low = 0;
  let high = list.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (list[mid].offset < message.offset) low = mid + 1;
    else high = mid;
  }
  if (list[low]?.offset === message.offset) return false;
  list.splice(low, 0, message);
  if (room.head === null || message.offset > room.head) room.head = message.offset;
  return true;
}

function receive(room, frame) {
  if (frame.client_id) room.pending.delete(frame.client_id);
  if (!insertMessage(room, frame)) {
    if (room.id === state.current) renderMessages();
    return;
  }
  const fromOthers = frame.user_id !== state.me?.user_id;
  room.typing.delete(frame.user_id);
  if (room.id === state.current) {
    const atBottom = isAtBottom();
    renderMessages();
    if (atBottom || !fromOthers) scrollToBottom();
    else $("new-messages").hidden = false;
    renderTyping();
  } else if (fromOthers) {
    room.unread += 1;
    renderRoomList();
  }
}

function acknowledge(room, frame) {
  const pending = room.pending.get(frame.client_id);
  if (!pending) return;
  room.pending.delete(frame.client_id);
  insertMessage(room, {
    offset: frame.offset,
    ts_ms: frame.ts_ms,
    user_id: state.me.user_id,
    display_name: state.me.display_name,
    text: pending.text,
    client_id: frame.client_id,
  });
  if (room.id === state.current) renderMessages();
}

// ---------------------------------------------------------------- rooms

async function selectRoom(room_id) {
  const room = state.rooms.get(room_id);
  if (!room) return;
  state.current = room_id;
  room.unread = 0;
  $("new-messages").hidden = true;
  document.body.classList.remove("sidebar-open");
  $("toggle-sidebar").setAttribute("aria-expanded", "false");
  renderRoomList();
  renderHeader();
  renderMessages();
  renderTyping();
  scrollToBottom();
  if (!room.loaded) {
    await loadOlder(room, true);
    room.loaded = true;
    if (state.current === room_id) scrollToBottom();
  }
}

// Loads the page before the oldest message shown (or the latest page, the first time).
async function loadOlder(room, first) {
  if (room.loadingOlder || (!first && !room.hasOlder)) return;
  room.loadingOlder = true;
  $("history-status").textContent = "Loading…";
  const oldest = room.messages[0]?.offset;
  const before = first || oldest === undefined ? Number.MAX_SAFE_INTEGER : oldest;
  try {
    const page = (await api.history(room.id, before, PAGE)).messages;
    room.hasOlder = page.length === PAGE;
    const scroller = $("scroller");
    const fromBottom = scroller.scrollHeight - scroller.scrollTop;
    for (const message of page) insertMessage(room, message);
    if (room.head === null) room.head = 0;
    if (room.id === state.current) {
      renderMessages();
      // Keep what the reader was looking at in place while older messages appear above.
      if (!first) scroller.scrollTop = scroller.scrollHeight - fromBottom;
    }
  } catch (err) {
    showConnection(explain(err));
  } finally {
    room.loadingOlder = false;
    $("history-status").textContent = room.hasOlder ? "" : "This is the beginning of the room.";
  }
}

function addRoom(room_id, name) {
  if (!state.rooms.has(room_id)) {
    const room = newRoom(room_id, name);
    state.rooms.set(room_id, room);
    subscribe(room);
  }
  renderRoomList();
  selectRoom(room_id);
}

function dropRoom(room_id) {
  state.rooms.delete(room_id);
  if (state.current === room_id) {
    state.current = null;
    const next = state.rooms.has("general") ? "general" : state.rooms.keys().next().value;
    if (next) selectRoom(next);
    else renderMessages();
  }
  renderRoomList();
}

async function onLeave() {
  const room_id = state.current;
  if (!room_id) return;
  try {
    await api.leaveRoom(room_id);
    state.socket?.send({ type: "unsubscribe", room_id });
    dropRoom(room_id);
  } catch (err) {
    showConnection(explain(err));
  }
}

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

async function onBrowse() {
  if (!$("browse").open) return;
  const list = $("public-list");
  list.replaceChildren(el("li", "muted", "Loading…"));
  try {
    const rooms = (await api.publicRooms()).rooms.filter((room) => !state.rooms.has(room.room_id));
    list.replaceChildren();
    if (rooms.length === 0) list.append(el("li", "muted", "You are in every room."));
    for (const room of rooms) {
      const item = el("li");
      item.append(el("span", "public-name", room.name));
      item.append(el("span", "muted", ` ${room.member_count} members`));
      const join = el("button", "quiet", "Join");
      join.type = "button";
      join.dataset.roomId = room.room_id;
      join.addEventListener("click", async () => {
        try {
          await api.joinRoom(room.room_id);
          item.remove();
          addRoom(room.room_id, room.name);
        } catch (err) {
          showConnection(explain(err));
        }
      });
      item.append(join);
      list.append(item);
    }
  } catch (err) {
    list.replaceChildren(el("li", "form-error", explain(err)));
  }
}

// ---------------------------------------------------------------- sending

function sendFrame(room, message) {
  state.socket?.send({ type: "send", room_id: room.id, text: message.text, client_id: message.client_id, ref: message.client_id });
}

function onSend(event) {
  event?.preventDefault();
  const input = $("composer-text");
  const text = input.value;
  const room = state.rooms.get(state.current);
  if (!room || !text.trim()) return;
  const message = {
    client_id: clientId(),
    text,
    state: "sending",
    ts_ms: Date.now(),
    user_id: state.me.user_id,
    display_name: state.me.display_name,
  };
  room.pending.set(message.client_id, message);
  input.value = "";
  autosize();
  renderMessages();
  scrollToBottom();
  // When the socket is down the message waits, marked as sending, and goes on reconnect.
  sendFrame(room, message);
}

function onComposerKey(event) {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    onSend(event);
  }
}

function onComposerInput() {
  autosize();
  const now = Date.now();
  if (state.current && now - state.typingSentAt > TYPING_SENT_EVERY_MS) {
    state.typingSentAt = now;
    state.socket?.send({ type: "typing", room_id: state.current });
  }
}

function autosize() {
  const input = $("composer-text");
  input.style.height = "auto";
  input.style.height = `${Math.min(input.scrollHeight, 200)}px`;
}

// ---------------------------------------------------------------- rendering

function isAtBottom() {
  const scroller = $("scroller");
  return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40;
}

function scrollToBottom() {
  const scroller = $("scroller");
  scroller.scrollTop = scroller.scrollHeight;
  $("new-messages").hidden = true;
}

function renderRoomList() {
  const list = $("room-list");
  list.replaceChildren();
  for (const room of state.rooms.values()) {
    const item = el("li");
    const button = el("button", "room-button");
    button.type = "button";
    button.dataset.roomId = room.id;
    if (room.id === state.current) button.setAttribute("aria-current", "true");
    button.append(el("span", "room-name", room.name));
    if (room.unread > 0) {
      const badge = el("span", "unread", String(room.unread));
      badge.setAttribute("aria-label", `${room.unread} unread`);
      button.append(badge);
    }
    button.addEventListener("click", () => selectRoom(room.id));
    item.append(button);
    list.append(item);
  }
}

function renderHeader() {
  const room = state.rooms.get(state.current);
  $("room-title").textContent = room ? room.name : "No room";
  $("leave").hidden = !room;
  const online = $("online");
  online.replaceChildren();
  if (!room) return;
  const names = [...room.online.entries()].sort((a, b) => a[1].localeCompare(b[1]));
  online.append(el("span", "muted", names.length ? "Online: " : "Nobody else is online"));
  names.forEach(([user_id, name], i) => {
    const who = el("span", "online-user", name || "unknown");
    who.dataset.userId = user_id;
    online.append(who);
    if (i < names.length - 1) online.append(", ");
  });
}

function renderMessages() {
  const list = $("messages");
  const room = state.rooms.get(state.current);
  list.replaceChildren();
  if (!room) return;
  let previous = null;
  const mine = (message) => message.user_id === state.me?.user_id;
  for (const message of room.messages) {
    list.append(messageItem(message, previous, { mine: mine(message) }));
    previous = message;
  }
  for (const message of room.pending.values()) {
    const retry = () => {
      message.state = "sending";
      renderMessages();
      sendFrame(room, message);
    };
    list.append(messageItem(message, previous, { mine: true, onRetry: retry }));
    previous = message;
  }
}

function renderTyping() {
  const room = state.rooms.get(state.current);
  const line = $("typing");
  if (!room) {
    line.textContent = "";
    return;
  }
  const now = Date.now();
  const names = [];
  for (const [user_id, typing] of room.typing) {
    if (typing.until > now) names.push(typing.name);
    else room.typing.delete(user_id);
  }
  line.textContent =
    names.length === 0 ? "" : names.length === 1 ? `${names[0]} is typing…` : `${names.join(", ")} are typing…`;
}

// ---------------------------------------------------------------- start

function wire() {
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
  $("composer").addEventListener("submit", onSend);
  $("composer-text").addEventListener("keydown", onComposerKey);
  $("composer-text").addEventListener("input", onComposerInput);
  $("leave").addEventListener("click", onLeave);
  $("create-form").addEventListener("submit", onCreate);
  $("browse").addEventListener("toggle", onBrowse);
  $("new-messages").addEventListener("click", scrollToBottom);
  $("scroller").addEventListener("scroll", () => {
    const room = state.rooms.get(state.current);
    if (room && room.loaded && $("scroller").scrollTop < 80) loadOlder(room, false);
    if (isAtBottom()) $("new-messages").hidden = true;
  });
  $("toggle-sidebar").addEventListener("click", () => {
    const open = document.body.classList.toggle("sidebar-open");
    $("toggle-sidebar").setAttribute("aria-expanded", String(open));
  });
}

async function main() {
  wire();
  try {
    startChat(await api.me());
  } catch {
    showAuth();
  }
}

main();
