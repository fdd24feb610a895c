// Turning messages into DOM nodes. Message text only ever reaches the page through
// textContent, so no markup in a message or a name can run; links are made by hand and
// only for http and https URLs.

const URL_PATTERN = /https?:\/\/[^\s<>"']+/g;
// Consecutive messages of one sender within this time share one header.
const GROUP_WINDOW_MS = 5 * 60 * 1000;

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// Text with its http(s) URLs as links, as a fragment.
export function linkify(text) {
  const fragment = document.createDocumentFragment();
  let last = 0;
  for (const match of text.matchAll(URL_PATTERN)) {
    // Trailing punctuation is usually the sentence's, not the URL's.
    const url = match[0].replace(/[.,;:!?)\]]+$/, "");
    if (match.index > last) fragment.append(text.slice(last, match.index));
    let href = null;
    try {
      const parsed = new URL(url);
      if (parsed.protocol === "http:" || parsed.protocol === "https:") href = parsed.href;
    } catch {
      href = null;
    }
    if (href) {
      const link = el("a", null, url);
      link.href = href;
      link.rel = "noopener noreferrer";
      link.target = "_blank";
      fragment.append(link);
    } else {
      fragment.append(url);
    }
    last = match.index + url.length;
  }
  if (last < text.length) fragment.append(text.slice(last));
  return fragment;
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dayFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function formatTime(ts) {
  const date = new Date(ts);
  const today = new Date().toDateString() === date.toDateString();
  return today ? timeFormat.format(date) : dayFormat.format(date);
}

// One list item for a message. `previous` decides whether it starts a new group.
// `pending` messages carry their state: "sending" or "failed" (with a reason).
export function messageItem(message, previous, { mine, onRetry }) {
  const item = el("li", "message");
  item.dataset.offset = message.offset ?? "";
  item.dataset.clientId = message.client_id ?? "";
  const grouped =
    previous &&
    previous.user_id === message.user_id &&
    message.ts_ms - previous.ts_ms < GROUP_WINDOW_MS;
  if (!grouped) {
    item.classList.add("group-start");
    const header = el("div", "message-header");
    header.append(el("span", "sender", message.display_name || "unknown"));
    const time = el("time", "time", formatTime(message.ts_ms));
    time.dateTime = new Date(message.ts_ms).toISOString();
    header.append(time);
    item.append(header);
  }
  if (mine) item.classList.add("mine");
  const body = el("div", "text");
  body.append(linkify(message.text));
  item.append(body);
  if (message.state === "sending") {
    item.classList.add("pending");
    item.append(el("span", "state", "Sending…"));
  } else if (message.state === "failed") {
    item.classList.add("failed");
    const state = el("span", "state", `Not sent: ${message.reason || "error"}. `);
    const retry = el("button", "link", "Retry");
    retry.type = "button";
    retry.addEventListener("click", onRetry);
    state.append(retry);
    item.append(state);
  }
  return item;
}
