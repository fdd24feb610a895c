// @ts-check
// The WebSocket connection: reconnects with exponential backoff and jitter, and tells the
// app when it is (re)connected so that it can resubscribe from the offsets it has.

/**
 * @typedef {object} SocketHandlers
 * @property {() => void} onOpen
 * @property {(frame: unknown) => void} onFrame
 * @property {() => void} onDown
 * @property {() => void} onLoggedOut  The server closed with 4001: the session ended.
 */

export class ChatSocket {
  /** @param {SocketHandlers} handlers */
  constructor(handlers) {
    this.handlers = handlers;
    this.attempt = 0;
    /** @type {WebSocket | null} */
    this.ws = null;
    this.stopped = false;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.timer = undefined;
  }

  connect() {
    this.stopped = false;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/api/ws`);
    this.ws = ws;
    ws.addEventListener("open", () => {
      this.attempt = 0;
      this.handlers.onOpen();
    });
    ws.addEventListener("message", (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      this.handlers.onFrame(frame);
    });
    ws.addEventListener("close", (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return;
      if (event.code === 4001) {
        this.handlers.onLoggedOut();
        return;
      }
      this.handlers.onDown();
      this.scheduleReconnect();
    });
  }

  scheduleReconnect() {
    // 0.5 s, 1 s, 2 s, ... up to 15 s, each scaled by a random factor in [0.5, 1) so that
    // a restarted server is not hit by every client in the same instant.
    const base = Math.min(15000, 500 * 2 ** this.attempt);
    this.attempt += 1;
    const delay = base * (0.5 + Math.random() / 2);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  get open() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  /** @param {import("./protocol.js").ClientFrame} frame @returns {boolean} whether it went out */
  send(frame) {
    if (!this.ws || !this.open) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close();
    this.ws = null;
  }
}
