// TypeDoc and its markdown plugin, resolved from this package (with TypeScript 5.9); see package.json.
export * from 'typedoc';
/** Absolute URL of typedoc-plugin-markdown, for TypeDoc's `plugin` option. */
export const markdownPlugin = import.meta.resolve('typedoc-plugin-markdown');
