// Types for preact.mjs (Preact 11.2.0), for the type check only (tsc --checkJs): the parts
// the app uses, after Preact's own src/index.d.ts.
export type VNode = { type: any; props: Record<string, any>; key?: any };
export type ComponentChild = VNode | string | number | bigint | boolean | null | undefined | object;
export function h(type: any, props: Record<string, any> | null, ...children: any[]): VNode;
export function render(vnode: ComponentChild, parent: Element | DocumentFragment): void;
export class Component<P = any, S = any> {
  constructor(props?: P, context?: any);
  props: P;
  state: S;
  setState(state: Partial<S> | ((prev: S, props: P) => Partial<S>), callback?: () => void): void;
  forceUpdate(callback?: () => void): void;
  render(props?: P, state?: S, context?: any): ComponentChild;
}
export const options: Record<string, any>;
