// The HTTP API: JSON in, JSON out, errors as ApiError with the server's code and message.

export class ApiError extends Error {
  constructor(status, code, message, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

async function call(method, path, body) {
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
  const data = text ? JSON.parse(text) : {};
  if (!response.ok) {
    const error = data.error || {};
    const retryAfter = Number(response.headers.get("retry-after")) || 0;
    throw new ApiError(response.status, error.code || "error", error.message || response.statusText, retryAfter);
  }
  return data;
}

export const api = {
  me: () => call("GET", "/api/me"),
  login: (login, password) =>
    call("POST", "/api/login", login.includes("@") ? { email: login, password } : { username: login, password }),
  register: (fields) => call("POST", "/api/register", fields),
  logout: () => call("POST", "/api/logout", {}),
  myRooms: () => call("GET", "/api/room/list"),
  publicRooms: () => call("GET", "/api/room/public"),
  createRoom: (room_id, name) => call("POST", "/api/room/create", { room_id, name }),
  joinRoom: (room_id) => call("POST", "/api/room/join", { room_id }),
  leaveRoom: (room_id) => call("POST", "/api/room/leave", { room_id }),
  history: (room_id, before, limit) =>
    call("GET", `/api/message/list?room_id=${encodeURIComponent(room_id)}&before=${before}&limit=${limit}`),
};

// A sentence for a failed call, for the form or banner that shows it.
export function explain(error) {
  if (!(error instanceof ApiError)) return "Something went wrong. Please try again.";
  if (error.code === "rate_limited") {
    return `Too many attempts. Try again in ${error.retryAfter || 1} s.`;
  }
  return error.message;
}
