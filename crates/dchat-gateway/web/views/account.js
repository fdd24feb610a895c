// @ts-check
// The account parts of the settings: the @username (changeable once when it was derived
// from the email), the bot badge, personal access tokens for scripts (each secret shown
// once, right after it is made, and never again), two-factor sign-in (a secret for the
// authenticator app, confirmed by one of its codes; the recovery codes shown once), and the
// webhooks of the rooms the user created (each URL shown once).

import { html, useEffect, useState } from "../html.js";
import { api, explain } from "../api.js";

/** @typedef {import("../api.js").PersonalToken} PersonalToken */
/** @typedef {import("../api.js").Webhook} Webhook */
/** @typedef {import("../store.js").Me} Me */

const day = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });

/** The text of a form's field. @param {Event} event @param {string} name */
function field(event, name) {
  const form = /** @type {HTMLFormElement} */ (event.currentTarget);
  return /** @type {HTMLInputElement} */ (form.elements.namedItem(name));
}

/** @param {{me: Me, onChanged: (changes: Partial<Me>) => void}} props */
export function Handle({ me, onChanged }) {
  const [note, setNote] = useState("");
  const [changeable, setChangeable] = useState(Boolean(me.username_changeable));
  const [username, setUsername] = useState(me.username ?? "");
  const [bot, setBot] = useState(Boolean(me.bot));

  /** @param {Event} event */
  const change = async (event) => {
    event.preventDefault();
    const wanted = field(event, "username").value.trim();
    try {
      await api.setUsername(wanted);
      setUsername(wanted.toLowerCase());
      setChangeable(false);
      onChanged({ username: wanted.toLowerCase(), username_changeable: false });
      setNote("Saved. This is your username from now on.");
    } catch (err) {
      setNote(explain(err));
    }
  };

  /** @param {boolean} value */
  const markBot = async (value) => {
    try {
      await api.setBot(value);
      setBot(value);
      onChanged({ bot: value });
      setNote(value ? "Your messages now show a bot badge." : "The bot badge is off.");
    } catch (err) {
      setNote(explain(err));
    }
  };

  return html`<section aria-labelledby="settings-handle">
    <h3 id="settings-handle">Username</h3>
    <p>Others see <strong id="settings-username">@${username}</strong> next to your name; it tells you apart from anyone with a similar name.</p>
    ${changeable
      ? html`<form id="settings-username-form" onSubmit=${change}>
          <label for="settings-new-username">It was made from your email. You may choose another, once.</label>
          <input id="settings-new-username" name="username" required minlength="3" maxlength="32" pattern="[A-Za-z0-9_.\\-]{3,32}" />
          <button type="submit" class="primary">Choose this username</button>
        </form>`
      : null}
    <label class="theme-choice">
      <input id="settings-bot" type="checkbox" checked=${bot} onChange=${(/** @type {Event} */ e) => markBot(/** @type {HTMLInputElement} */ (e.currentTarget).checked)} />
      ${" "}This account is a bot (a script or an integration)
    </label>
    <p class="note" aria-live="polite">${note}</p>
  </section>`;
}

export function PersonalTokens() {
  /** @type {[PersonalToken[] | string | null, (value: PersonalToken[] | string | null) => void]} */
  const [tokens, setTokens] = useState(/** @type {PersonalToken[] | string | null} */ (null));
  /** The secret just made: shown until the dialog closes, never fetched again. */
  const [fresh, setFresh] = useState(/** @type {{name: string, token: string} | null} */ (null));
  const [note, setNote] = useState("");

  const load = () =>
    api.tokens().then(
      (answer) => setTokens(answer.tokens),
      (/** @type {unknown} */ err) => setTokens(explain(err)),
    );
  useEffect(() => {
    load();
  }, []);

  /** @param {Event} event */
  const create = async (event) => {
    event.preventDefault();
    const name = field(event, "name");
    const days = field(event, "days");
    try {
      const made = await api.createToken(name.value.trim(), Number(days.value));
      setFresh({ name: made.info.name, token: made.token });
      setNote("");
      name.value = "";
      load();
    } catch (err) {
      setNote(explain(err));
    }
  };

  /** @param {string} token_id */
  const revoke = async (token_id) => {
    try {
      await api.revokeToken(token_id);
      setNote("Revoked. Scripts using it are refused from now on.");
    } catch (err) {
      setNote(explain(err));
    }
    load();
  };

  return html`<section aria-labelledby="settings-tokens">
    <h3 id="settings-tokens">Personal access tokens</h3>
    <p class="muted">For scripts: send one as <code>Authorization: Bearer …</code>. A token acts as you, but cannot change your account.</p>
    ${fresh
      ? html`<div id="fresh-token" role="status">
          <p>Copy the token “${fresh.name}” now; it is not shown again:</p>
          <p class="secret">${fresh.token}</p>
        </div>`
      : null}
    <form id="token-form" onSubmit=${create}>
      <label for="token-name">Name</label>
      <input id="token-name" name="name" required maxlength="64" placeholder="What it is for" />
      <label for="token-days">Expires after</label>
      <select id="token-days" name="days">
        <option value="7">7 days</option>
        <option value="30" selected>30 days</option>
        <option value="90">90 days</option>
        <option value="365">1 year</option>
      </select>
      <button type="submit" class="primary">Create token</button>
    </form>
    ${tokens === null
      ? html`<p class="note">Loading…</p>`
      : typeof tokens === "string"
        ? html`<p class="note" role="alert">${tokens}</p>`
        : html`<ul id="token-list" class="sessions">
            ${tokens.map(
              (token) => html`<li key=${token.token_id} data-token-id=${token.token_id}>
                <div>
                  <div class="device">${token.name}</div>
                  <div class="muted">made ${day.format(token.created_ms)} · last used ${day.format(token.last_used_ms)} · expires ${day.format(token.expires_ms)}</div>
                </div>
                <button type="button" class="quiet" onClick=${() => revoke(token.token_id)}>Revoke</button>
              </li>`,
            )}
          </ul>`}
    <p class="note" aria-live="polite">${note}</p>
  </section>`;
}

export function TwoFactor() {
  const [status, setStatus] = useState(/** @type {{enabled: boolean, recovery_codes_left: number} | null} */ (null));
  const [setup, setSetup] = useState(/** @type {{secret: string, otpauth_url: string} | null} */ (null));
  const [codes, setCodes] = useState(/** @type {string[] | null} */ (null));
  const [note, setNote] = useState("");

  const load = () => api.twoFactor().then(setStatus, (/** @type {unknown} */ err) => setNote(explain(err)));
  useEffect(() => {
    load();
  }, []);

  const begin = async () => {
    try {
      setSetup(await api.setUpTwoFactor());
      setNote("");
    } catch (err) {
      setNote(explain(err));
    }
  };

  /** @param {Event} event */
  const enable = async (event) => {
    event.preventDefault();
    const code = field(event, "code");
    try {
      const answer = await api.enableTwoFactor(code.value.trim());
      setCodes(answer.recovery_codes);
      setSetup(null);
      setNote("Two-factor sign-in is on.");
      load();
    } catch (err) {
      code.value = "";
      setNote(explain(err));
    }
  };

  /** @param {Event} event */
  const disable = async (event) => {
    event.preventDefault();
    const password = field(event, "password");
    try {
      await api.disableTwoFactor(password.value);
      setCodes(null);
      setNote("Two-factor sign-in is off.");
      load();
    } catch (err) {
      setNote(explain(err));
    } finally {
      password.value = "";
    }
  };

  return html`<section aria-labelledby="settings-2fa">
    <h3 id="settings-2fa">Two-factor sign-in</h3>
    ${codes
      ? html`<div id="recovery-codes" role="status">
          <p>Keep these recovery codes somewhere safe. Each signs you in once if you lose your phone; they are not shown again.</p>
          <ol class="codes">${codes.map((code) => html`<li key=${code}>${code}</li>`)}</ol>
        </div>`
      : null}
    ${status === null
      ? html`<p class="note">Loading…</p>`
      : status.enabled
        ? html`<p id="two-factor-status">On. ${status.recovery_codes_left} recovery codes left.</p>
            <form id="two-factor-off" onSubmit=${disable}>
              <label for="two-factor-password">Your password, to turn it off</label>
              <input id="two-factor-password" name="password" type="password" autocomplete="current-password" required />
              <button type="submit" class="quiet">Turn off</button>
            </form>`
        : setup
          ? html`<form id="two-factor-on" onSubmit=${enable}>
              <p>Add this key to your authenticator app (or open the link on your phone), then enter the code it shows.</p>
              <p id="two-factor-secret" class="secret">${setup.secret}</p>
              <p><a href=${setup.otpauth_url}>Open in the authenticator app</a></p>
              <label for="two-factor-code">Code</label>
              <input id="two-factor-code" name="code" autocomplete="one-time-code" inputmode="numeric" required maxlength="6" />
              <button type="submit" class="primary">Turn on</button>
            </form>`
          : html`<p id="two-factor-status">Off. With it on, signing in asks for a code from an app on your phone too.</p>
              <button id="two-factor-begin" type="button" class="primary" onClick=${begin}>Set up</button>`}
    <p class="note" aria-live="polite">${note}</p>
  </section>`;
}

/** One room's webhooks, for its owner. @param {{room_id: string, name: string}} props */
function RoomWebhooks({ room_id, name }) {
  const [hooks, setHooks] = useState(/** @type {Webhook[] | string | null} */ (null));
  const [fresh, setFresh] = useState(/** @type {string | null} */ (null));
  const [note, setNote] = useState("");
  const load = () =>
    api.webhooks(room_id).then(
      (answer) => setHooks(answer.webhooks),
      (/** @type {unknown} */ err) => setHooks(explain(err)),
    );
  useEffect(() => {
    load();
  }, [room_id]);

  /** @param {Event} event */
  const create = async (event) => {
    event.preventDefault();
    const botName = field(event, "name");
    try {
      const made = await api.createWebhook(room_id, botName.value.trim());
      setFresh(new URL(made.url, location.href).href);
      botName.value = "";
      setNote("");
      load();
    } catch (err) {
      setNote(explain(err));
    }
  };

  /** @param {string} webhook_id */
  const remove = async (webhook_id) => {
    try {
      await api.deleteWebhook(room_id, webhook_id);
    } catch (err) {
      setNote(explain(err));
    }
    load();
  };

  return html`<div class="room-webhooks" data-room-id=${room_id}>
    <h4>${name}</h4>
    ${fresh
      ? html`<p>POST <code>{"text": "..."}</code> as JSON to this URL, shown once:</p>
          <p class="secret webhook-url">${fresh}</p>`
      : null}
    ${typeof hooks === "string"
      ? html`<p class="note" role="alert">${hooks}</p>`
      : html`<ul class="sessions">
          ${(hooks ?? []).map(
            (hook) => html`<li key=${hook.webhook_id}>
              <div>
                <div class="device">${hook.name} <span class="badge">bot</span></div>
                <div class="muted">@${hook.username} · made ${day.format(hook.created_ms)} · last used ${day.format(hook.last_used_ms)}</div>
              </div>
              <button type="button" class="quiet" onClick=${() => remove(hook.webhook_id)}>Delete</button>
            </li>`,
          )}
        </ul>`}
    <form class="webhook-form" onSubmit=${create}>
      <label>Bot name <input name="name" required maxlength="64" placeholder="CI alerts" /></label>
      <button type="submit" class="quiet">Add webhook</button>
    </form>
    <p class="note" aria-live="polite">${note}</p>
  </div>`;
}

/** The webhooks of every room the user created. */
export function Webhooks() {
  const [rooms, setRooms] = useState(/** @type {import("../api.js").RoomSummary[] | null} */ (null));
  useEffect(() => {
    api.myRooms().then(
      (answer) => setRooms(answer.rooms.filter((room) => room.role === "owner")),
      () => setRooms([]),
    );
  }, []);
  return html`<section aria-labelledby="settings-webhooks">
    <h3 id="settings-webhooks">Incoming webhooks</h3>
    ${rooms === null
      ? html`<p class="note">Loading…</p>`
      : rooms.length === 0
        ? html`<p class="muted">Rooms you create can take posts from other services here.</p>`
        : rooms.map((room) => html`<${RoomWebhooks} key=${room.room_id} room_id=${room.room_id} name=${room.name} />`)}
  </section>`;
}
