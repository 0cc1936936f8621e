// TypeDoc and its markdown plugin, resolved from this package (with TypeScript 5.9); see package.json.
export * from 'typedoc';
export { load as loadMarkdownPlugin } from 'typedoc-plugin-markdown';
