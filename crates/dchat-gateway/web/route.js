// @ts-check
// Where the user is, kept in the address: `#/room/<id>` names the open room, so a reload
// or a shared link opens it again and the back button returns to the previous room. A
// room's unsent draft is kept for the tab (sessionStorage), so a reload keeps it too.

const ROOM_PREFIX = "#/room/";
const DRAFT_PREFIX = "dchat:draft:";

/** The room the address names, if any. @returns {string | null} */
export function roomInAddress() {
  if (!location.hash.startsWith(ROOM_PREFIX)) return null;
  try {
    return decodeURIComponent(location.hash.slice(ROOM_PREFIX.length)) || null;
  } catch {
    return null;
  }
}

/**
 * Names `room_id` in the address. A room the user chose is a new history entry; one the
 * app chose for them (at start, after leaving) replaces the current entry.
 * @param {string} room_id @param {boolean} chosen
 */
export function showRoomInAddress(room_id, chosen) {
  const hash = ROOM_PREFIX + encodeURIComponent(room_id);
  if (location.hash === hash) return;
  if (chosen) history.pushState(null, "", hash);
  else history.replaceState(null, "", hash);
}

/** @param {(room_id: string) => void} onRoom called when back, forward or an edit of the address names a room */
export function followAddress(onRoom) {
  const follow = () => {
    const room_id = roomInAddress();
    if (room_id) onRoom(room_id);
  };
  window.addEventListener("popstate", follow);
  window.addEventListener("hashchange", follow);
}

/** @param {string} room_id @returns {string} */
export function loadDraft(room_id) {
  try {
    return sessionStorage.getItem(DRAFT_PREFIX + room_id) ?? "";
  } catch {
    return "";
  }
}

/** @param {string} room_id @param {string} text */
export function saveDraft(room_id, text) {
  try {
    if (text) sessionStorage.setItem(DRAFT_PREFIX + room_id, text);
    else sessionStorage.removeItem(DRAFT_PREFIX + room_id);
  } catch {
    // Storage is full or disabled: the draft lives only as long as the page.
  }
}

const UNSENT = "dchat:unsent";

/**
 * Keeps messages that were never acknowledged across a sign-in, for the same user only.
 * @param {string} user_id @param {{room_id: string, message: import("./protocol.js").Pending}[]} unsent
 */
export function saveUnsent(user_id, unsent) {
  try {
    sessionStorage.setItem(UNSENT, JSON.stringify({ user_id, unsent }));
  } catch {
    // Storage is full or disabled: they live only as long as the page.
  }
}

/**
 * Takes the kept messages of `user_id`. Null when they were someone else's: that user's
 * messages and drafts must not reach this one (the caller forgets the drafts).
 * @param {string} user_id @returns {{room_id: string, message: import("./protocol.js").Pending}[] | null}
 */
export function takeUnsent(user_id) {
  try {
    const saved = JSON.parse(sessionStorage.getItem(UNSENT) ?? "null");
    sessionStorage.removeItem(UNSENT);
    if (!saved) return [];
    return saved.user_id === user_id && Array.isArray(saved.unsent) ? saved.unsent : null;
  } catch {
    return [];
  }
}

/** Forgets every draft (at sign-out: the next user of this tab must not see them). */
export function clearDrafts() {
  try {
    for (const key of Object.keys(sessionStorage)) {
      if (key.startsWith(DRAFT_PREFIX) || key === UNSENT) sessionStorage.removeItem(key);
    }
  } catch {
    // Nothing stored, nothing to forget.
  }
}
