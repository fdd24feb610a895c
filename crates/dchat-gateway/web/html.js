// @ts-check
// The rendering library, in one place: Preact's components and hooks, and `html`, htm's
// tagged templates bound to Preact's `h`, so views are written without a build step.
// Text in a template always becomes a text node: nothing a user wrote can become markup.

import { h, render, Component } from "./vendor/preact.mjs";
import { useEffect, useLayoutEffect, useRef, useState } from "./vendor/hooks.mjs";
import htm from "./vendor/htm.mjs";

export const html = htm.bind(h);
export { render, Component, useEffect, useLayoutEffect, useRef, useState };

/**
 * The part of the store a view shows, re-read on every change of the store; the view
 * re-renders only when it differs (`Object.is`) from what it showed, so `select` returns
 * revisions or other primitives, never fresh objects.
 * @template T
 * @param {import("./store.js").Store} store
 * @param {(store: import("./store.js").Store) => T} select
 * @returns {T}
 */
export function useStore(store, select) {
  const [, rerender] = useState(0);
  const selected = select(store);
  const latest = useRef({ select, selected });
  latest.current = { select, selected };
  useLayoutEffect(
    () =>
      store.subscribe(() => {
        if (!Object.is(latest.current.select(store), latest.current.selected)) rerender((n) => n + 1);
      }),
    [store],
  );
  return selected;
}
