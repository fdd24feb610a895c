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

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dayFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/** @param {number} ts */
export function formatTime(ts) {
  const date = new Date(ts);
  const today = new Date().toDateString() === date.toDateString();
  return today ? timeFormat.format(date) : dayFormat.format(date);
}
