// Types for htm.mjs (htm 3.1.1), for the type check only (tsc --checkJs): the parts the
// app uses, after htm's own dist/htm.d.ts.
type H<R> = (type: any, props: Record<string, any> | null, ...children: any[]) => R;
declare const htm: {
  bind<R>(h: H<R>): (strings: TemplateStringsArray, ...values: any[]) => R | R[];
};
export default htm;
