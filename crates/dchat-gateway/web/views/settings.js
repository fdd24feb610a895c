// @ts-check
// Settings, in a modal dialog: the display name, the username and bot badge, the password
// (the current one is asked for, and every other session ends), two-factor sign-in, the
// sessions signed in to the account (each can be ended, or all of them), personal access
// tokens, webhooks, and the theme. Each part says what happened in a polite note.

import { html, render, useEffect, useState } from "../html.js";
import { api, explain } from "../api.js";
import { Handle, PersonalTokens, TwoFactor, Webhooks } from "./account.js";

/** @typedef {import("../api.js").SessionInfo} SessionInfo */

const THEME_KEY = "dchat:theme";
const when = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/** The page's theme: "system", "light" or "dark" (kept in this browser). */
export function applyTheme(theme = storedTheme()) {
  if (theme === "light" || theme === "dark") document.documentElement.dataset.theme = theme;
  else delete document.documentElement.dataset.theme;
}

function storedTheme() {
  try {
    return localStorage.getItem(THEME_KEY) ?? "system";
  } catch {
    return "system";
  }
}

/** A person's name for a User-Agent: the browser or program, and the system. */
export function describeAgent(/** @type {string} */ agent) {
  if (!agent) return "Unknown device";
  const browser =
    [
      [/Edg\//, "Edge"],
      [/OPR\//, "Opera"],
      [/Firefox\//, "Firefox"],
      [/Chrome\//, "Chrome"],
      [/Safari\//, "Safari"],
    ].find(([pattern]) => /** @type {RegExp} */ (pattern).test(agent))?.[1] ?? agent.split(/[ /]/)[0];
  const system =
    [
      [/Android/, "Android"],
      [/iPhone|iPad/, "iOS"],
      [/Windows/, "Windows"],
      [/Mac OS X/, "macOS"],
      [/Linux/, "Linux"],
    ].find(([pattern]) => /** @type {RegExp} */ (pattern).test(agent))?.[1];
  return system ? `${browser} on ${system}` : String(browser);
}

/**
 * @param {{
 *   me: import("../store.js").Me,
 *   onClose: () => void,
 *   onRenamed: (name: string) => void,
 *   onChanged: (changes: Partial<import("../store.js").Me>) => void,
 *   onSignedOutEverywhere: () => void,
 * }} props
 */
function Settings({ me, onClose, onRenamed, onChanged, onSignedOutEverywhere }) {
  const [name, setName] = useState(me.display_name);
  const [nameNote, setNameNote] = useState("");
  const [passwordNote, setPasswordNote] = useState("");
  /** @type {[SessionInfo[] | string | null, (value: SessionInfo[] | string | null) => void]} */
  const [sessions, setSessions] = useState(/** @type {SessionInfo[] | string | null} */ (null));
  const [theme, setTheme] = useState(storedTheme());

  const loadSessions = () =>
    api.sessions().then(
      (answer) => setSessions(answer.sessions),
      (/** @type {unknown} */ err) => setSessions(explain(err)),
    );
  useEffect(() => {
    loadSessions();
  }, []);

  /** @param {Event} event */
  const rename = async (event) => {
    event.preventDefault();
    try {
      await api.setName(name.trim());
      onRenamed(name.trim());
      setNameNote("Saved.");
    } catch (err) {
      setNameNote(explain(err));
    }
  };

  /** @param {Event} event */
  const changePassword = async (event) => {
    event.preventDefault();
    const form = /** @type {HTMLFormElement} */ (event.currentTarget);
    const field = (/** @type {string} */ name) => /** @type {HTMLInputElement} */ (form.elements.namedItem(name));
    const [current, next, again] = [field("current"), field("new"), field("again")];
    if (next.value !== again.value) {
      setPasswordNote("The new passwords differ.");
      return;
    }
    try {
      await api.changePassword(current.value, next.value);
      setPasswordNote("Password changed. Every other session has ended.");
      loadSessions();
    } catch (err) {
      setPasswordNote(explain(err));
    } finally {
      // No password stays in the form, whatever the answer.
      current.value = "";
      next.value = "";
      again.value = "";
    }
  };

  /** @param {string} session_id */
  const end = async (session_id) => {
    try {
      await api.endSession(session_id);
    } catch (err) {
      setSessions(explain(err));
      return;
    }
    loadSessions();
  };

  const endEverywhere = async () => {
    try {
      await api.endEverySession();
    } catch (err) {
      setSessions(explain(err));
      return;
    }
    onSignedOutEverywhere();
  };

  /** @param {string} value */
  const chooseTheme = (value) => {
    setTheme(value);
    try {
      localStorage.setItem(THEME_KEY, value);
    } catch {
      // Not kept; it still applies to this page.
    }
    applyTheme(value);
  };

  return html`<div class="settings-body">
    <header>
      <h2 id="settings-title">Settings</h2>
      <button type="button" class="quiet" onClick=${onClose}>Close</button>
    </header>
    <section aria-labelledby="settings-name">
      <h3 id="settings-name">Display name</h3>
      <form id="settings-name-form" onSubmit=${rename}>
        <label for="settings-display-name">Shown next to your messages</label>
        <input id="settings-display-name" value=${name} maxlength="64" required
          onInput=${(/** @type {Event} */ e) => setName(/** @type {HTMLInputElement} */ (e.currentTarget).value)} />
        <button type="submit" class="primary">Save</button>
        <p class="note" aria-live="polite">${nameNote}</p>
      </form>
    </section>
    <${Handle} me=${me} onChanged=${onChanged} />
    <section aria-labelledby="settings-password">
      <h3 id="settings-password">Password</h3>
      <form id="settings-password-form" onSubmit=${changePassword}>
        <input type="text" name="username" autocomplete="username" value=${me.username || me.email || ""} hidden readonly />
        <label for="settings-current">Current password</label>
        <input id="settings-current" name="current" type="password" autocomplete="current-password" required />
        <label for="settings-new">New password</label>
        <input id="settings-new" name="new" type="password" autocomplete="new-password" minlength="8" required />
        <label for="settings-again">New password again</label>
        <input id="settings-again" name="again" type="password" autocomplete="new-password" minlength="8" required />
        <button type="submit" class="primary">Change password</button>
        <p class="note" aria-live="polite">${passwordNote}</p>
      </form>
    </section>
    <${TwoFactor} />
    <section aria-labelledby="settings-sessions">
      <h3 id="settings-sessions">Where you are signed in</h3>
      ${sessions === null
        ? html`<p class="note">Loading…</p>`
        : typeof sessions === "string"
          ? html`<p class="note" role="alert">${sessions}</p>`
          : html`<ul id="session-list" class="sessions">
              ${sessions.map(
                (session) => html`<li key=${session.session_id} data-session-id=${session.session_id}>
                  <div>
                    <div class="device">${describeAgent(session.user_agent)}${session.current ? " (this browser)" : ""}</div>
                    <div class="muted">${session.address} · signed in ${when.format(session.created_ms)} · last used ${when.format(session.last_used_ms)}</div>
                  </div>
                  ${session.current
                    ? null
                    : html`<button type="button" class="quiet" onClick=${() => end(session.session_id)}>Sign out</button>`}
                </li>`,
              )}
            </ul>`}
      <button id="sign-out-everywhere" type="button" class="quiet" onClick=${endEverywhere}>Sign out everywhere</button>
    </section>
    <${PersonalTokens} />
    <${Webhooks} />
    <section aria-labelledby="settings-theme">
      <h3 id="settings-theme">Theme</h3>
      ${["system", "light", "dark"].map(
        (value) => html`<label key=${value} class="theme-choice">
          <input type="radio" name="theme" value=${value} checked=${theme === value} onChange=${() => chooseTheme(value)} />
          ${value === "system" ? " As the system" : value === "light" ? " Light" : " Dark"}
        </label>`,
      )}
    </section>
  </div>`;
}

/**
 * Opens the settings dialog.
 * @param {HTMLDialogElement} dialog
 * @param {Omit<Parameters<typeof Settings>[0], "onClose">} props
 */
export function openSettings(dialog, props) {
  const close = () => dialog.close();
  dialog.addEventListener("close", () => render(null, dialog), { once: true });
  render(html`<${Settings} ...${props} onClose=${close} />`, dialog);
  dialog.showModal();
}
