// @ts-check
// How text and times are shown. Message text only ever becomes text nodes (Preact sets
// them as text), so no markup in a message or a name can run; links are made here, and
// only for http and https URLs.

import { html } from "./html.js";

const URL_PATTERN = /https?:\/\/[^\s<>"']+/g;

/**
 * Text with its http(s) URLs as links: an array of strings and link elements.
 * @param {string} text
 */
export function linkify(text) {
  /** @type {unknown[]} */
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(URL_PATTERN)) {
    // Trailing punctuation is usually the sentence's, not the URL's.
    const url = match[0].replace(/[.,;:!?)\]]+$/, "");
    const index = match.index ?? 0;
    if (index > last) parts.push(text.slice(last, index));
    let href = null;
    try {
      const parsed = new URL(url);
      if (parsed.protocol === "http:" || parsed.protocol === "https:") href = parsed.href;
    } catch {
      href = null;
    }
    parts.push(href ? html`<a href=${href} rel="noopener noreferrer" target="_blank">${url}</a>` : url);
    last = index + url.length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}

const MENTION_PATTERN = /(^|[^\w@.])@([A-Za-z0-9_.-]{3,32})/g;

/**
 * Text with its http(s) URLs as links and the @usernames of the room's members marked, each
 * with the member's display name as its title, so a mention shows whom it names.
 * @param {string} text
 * @param {Map<string, string> | null} handles  username -> display name, of the room's members.
 * @param {string} [me]  The reader's username: mentions of them stand out.
 */
export function richText(text, handles, me) {
  if (!handles || !text.includes("@")) return linkify(text);
  /** @type {unknown[]} */
  const parts = [];
  for (const part of linkify(text)) {
    if (typeof part !== "string") {
      parts.push(part);
      continue;
    }
    let last = 0;
    for (const match of part.matchAll(MENTION_PATTERN)) {
      const handle = match[2].replace(/[.\-]+$/, "");
      const name = handles.get(handle.toLowerCase());
      if (name === undefined) continue;
      const at = (match.index ?? 0) + match[1].length;
      if (at > last) parts.push(part.slice(last, at));
      const mine = handle.toLowerCase() === me;
      parts.push(html`<span class=${mine ? "mention me" : "mention"} title=${name}>@${handle}</span>`);
      last = at + 1 + handle.length;
    }
    if (last < part.length) parts.push(part.slice(last));
  }
  return parts;
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dayFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/** @param {number} ts */
export function formatTime(ts) {
  const date = new Date(ts);
  const today = new Date().toDateString() === date.toDateString();
  return today ? timeFormat.format(date) : dayFormat.format(date);
}
