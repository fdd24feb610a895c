// @ts-check
// The HTTP API: JSON in, JSON out, errors as ApiError with the server's code and message.

export class ApiError extends Error {
  /** @param {number} status @param {string} code @param {string} message @param {number} [retryAfter] */
  constructor(status, code, message, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

/** Told when a call that needed the session is refused with 401: the session ended. */
let onSessionEnded = () => {};

/** @param {() => void} handler */
export function whenSessionEnds(handler) {
  onSessionEnded = handler;
}

/** Calls whose 401 means "not signed in", not "the session ended". */
const SIGN_IN_PATHS = ["/api/me", "/api/login", "/api/register"];

/**
 * @param {string} method @param {string} path @param {unknown} [body]
 * @returns {Promise<any>}
 */
async function call(method, path, body) {
  /** @type {RequestInit & {headers: Record<string, string>}} */
  const init = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, "network", "The server cannot be reached. Check your connection.");
  }
  const text = await response.text();
  let data = {};
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    throw new ApiError(response.status, "bad_response", `The server answered ${response.status} with something other than JSON.`);
  }
  if (!response.ok) {
    const error = /** @type {{error?: {code?: string, message?: string}}} */ (data).error || {};
    const retryAfter = Number(response.headers.get("retry-after")) || 0;
    if (response.status === 401 && !SIGN_IN_PATHS.includes(path)) onSessionEnded();
    throw new ApiError(response.status, error.code || "error", error.message || response.statusText, retryAfter);
  }
  return data;
}

/**
 * @typedef {object} User
 * @property {string} user_id
 * @property {string} username
 * @property {string} [email]
 * @property {string} display_name
 * @property {boolean} [bot]
 * @property {boolean} [username_changeable]  Derived from the email; may be changed once.
 */
/**
 * @typedef {object} Member
 * @property {string} user_id
 * @property {string} display_name
 * @property {string} username
 * @property {boolean} bot
 * @property {boolean} lookalike  Their display name looks like another member's.
 */
/**
 * @typedef {object} PersonalToken
 * @property {string} token_id
 * @property {string} name
 * @property {number} created_ms
 * @property {number} last_used_ms
 * @property {number} expires_ms
 */
/**
 * @typedef {object} Webhook
 * @property {string} webhook_id
 * @property {string} room_id
 * @property {string} name
 * @property {string} username
 * @property {number} created_ms
 * @property {number} last_used_ms
 */
/** @typedef {{ok: boolean, token: string, user: User}} Session */
/** @typedef {{room_id: string, name: string, role?: "owner" | "member"}} RoomSummary */
/** @typedef {{room_id: string, name: string, member_count: number}} PublicRoom */
/**
 * @typedef {object} SessionInfo
 * @property {string} session_id
 * @property {number} created_ms
 * @property {number} last_used_ms
 * @property {number} expires_ms
 * @property {string} user_agent
 * @property {string} address
 * @property {boolean} current
 */

export const api = {
  /** @returns {Promise<User>} */
  me: () => call("GET", "/api/me"),
  /** @param {string} login @param {string} password @param {string} [second_factor] @returns {Promise<Session>} */
  login: (login, password, second_factor = "") =>
    call(
      "POST",
      "/api/login",
      login.includes("@") ? { email: login, password, second_factor } : { username: login, password, second_factor },
    ),
  /** @param {{username: string, email: string, display_name: string, password: string}} fields @returns {Promise<Session>} */
  register: (fields) => call("POST", "/api/register", fields),
  logout: () => call("POST", "/api/logout", {}),
  /** @returns {Promise<{rooms: RoomSummary[]}>} */
  myRooms: () => call("GET", "/api/room/list"),
  /** @returns {Promise<{rooms: PublicRoom[]}>} */
  publicRooms: () => call("GET", "/api/room/public"),
  /** @param {string} room_id @param {string} name @returns {Promise<{created: boolean}>} */
  createRoom: (room_id, name) => call("POST", "/api/room/create", { room_id, name }),
  /** @param {string} room_id */
  joinRoom: (room_id) => call("POST", "/api/room/join", { room_id }),
  /** @param {string} room_id */
  leaveRoom: (room_id) => call("POST", "/api/room/leave", { room_id }),
  /** @param {string} display_name */
  setName: (display_name) => call("POST", "/api/profile/setname", { display_name }),
  /** @param {string} room_id @returns {Promise<{members: Member[]}>} */
  members: (room_id) => call("GET", `/api/room/members?room_id=${encodeURIComponent(room_id)}`),
  /** @param {string} username */
  setUsername: (username) => call("POST", "/api/profile/username", { username }),
  /** @param {boolean} bot */
  setBot: (bot) => call("POST", "/api/profile/bot", { bot }),
  /** @returns {Promise<{tokens: PersonalToken[]}>} */
  tokens: () => call("GET", "/api/tokens"),
  /** @param {string} name @param {number} expires_in_days @returns {Promise<{token: string, info: PersonalToken}>} */
  createToken: (name, expires_in_days) => call("POST", "/api/tokens", { name, expires_in_days }),
  /** @param {string} token_id */
  revokeToken: (token_id) => call("POST", "/api/tokens/revoke", { token_id }),
  /** @returns {Promise<{enabled: boolean, recovery_codes_left: number}>} */
  twoFactor: () => call("GET", "/api/2fa"),
  /** @returns {Promise<{secret: string, otpauth_url: string}>} */
  setUpTwoFactor: () => call("POST", "/api/2fa/setup", {}),
  /** @param {string} code @returns {Promise<{recovery_codes: string[]}>} */
  enableTwoFactor: (code) => call("POST", "/api/2fa/enable", { code }),
  /** @param {string} password */
  disableTwoFactor: (password) => call("POST", "/api/2fa/disable", { password }),
  /** @param {string} room_id @returns {Promise<{webhooks: Webhook[]}>} */
  webhooks: (room_id) => call("GET", `/api/room/webhooks?room_id=${encodeURIComponent(room_id)}`),
  /** @param {string} room_id @param {string} name @returns {Promise<{url: string, webhook: Webhook}>} */
  createWebhook: (room_id, name) => call("POST", "/api/room/webhooks", { room_id, name }),
  /** @param {string} room_id @param {string} webhook_id */
  deleteWebhook: (room_id, webhook_id) => call("POST", "/api/room/webhooks/delete", { room_id, webhook_id }),
  /** @returns {Promise<{sessions: SessionInfo[]}>} */
  sessions: () => call("GET", "/api/sessions"),
  /** @param {string} session_id */
  endSession: (session_id) => call("POST", "/api/sessions/revoke", { session_id }),
  endEverySession: () => call("POST", "/api/sessions/revoke", { everywhere: true }),
  /** @param {string} current_password @param {string} new_password */
  changePassword: (current_password, new_password) =>
    call("POST", "/api/password", { current_password, new_password }),
  /**
   * @param {string} room_id @param {number} before @param {number} limit
   * @returns {Promise<{messages: import("./protocol.js").Message[]}>}
   */
  history: (room_id, before, limit) =>
    call("GET", `/api/message/list?room_id=${encodeURIComponent(room_id)}&before=${before}&limit=${limit}`),
};

/** A sentence for a failed call, for the form or banner that shows it. @param {unknown} error */
export function explain(error) {
  if (!(error instanceof ApiError)) return "Something went wrong. Please try again.";
  if (error.code === "rate_limited") {
    return `Too many attempts. Try again in ${error.retryAfter || 1} s.`;
  }
  return error.message;
}
