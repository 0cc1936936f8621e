// typescript-eslint, resolved from this package (with TypeScript 5.9); see package.json.
export { default } from 'typescript-eslint';
