// ESLint flat config: the recommended rules of ESLint and typescript-eslint for the TypeScript
// sources. typescript-eslint comes from the local tools/ package, which has its own TypeScript 5.9
// (typescript-eslint needs TypeScript's JavaScript API; the repository compiles with TypeScript 7,
// which has none): see tools/package.json.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'spikelayers-devtools/typescript-eslint';

export default defineConfig(
  {
    ignores: [
      'dist/**',
      'build/**',
      'build-asan/**',
      'prebuilds/**',
      'tools/node_modules/**',
      '.gpu-pack/**',
      'docs/**',
    ],
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
      globals: {
        // Node.js globals the sources use (no browser globals)
        console: 'readonly',
        process: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setImmediate: 'readonly',
        queueMicrotask: 'readonly',
        structuredClone: 'readonly',
        globalThis: 'readonly',
        URL: 'readonly',
        TextEncoder: 'readonly',
        TextDecoder: 'readonly',
        performance: 'readonly',
        gc: 'readonly',
      },
    },
    rules: {
      // Non-null assertions mark indices and map lookups the code has just checked (noUncheckedIndexedAccess-
      // style reads); they are intentional.
      '@typescript-eslint/no-non-null-assertion': 'off',
      // Unused arguments keep interface signatures readable when prefixed with '_'.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
    },
  },
  {
    // chai's property assertions (`expect(x).to.be.NaN`) are expressions by design
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-expressions': 'off',
      // bad-input tests pass values of the wrong type on purpose (`null as any`, `{} as any`)
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  {
    // CommonJS: the install and prebuildify scripts, and the CommonJS consumer of the release check
    files: ['**/*.cjs', '**/*.cts'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: {
        require: 'readonly',
        module: 'writable',
        __dirname: 'readonly',
        __filename: 'readonly',
        console: 'readonly',
        process: 'readonly',
      },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
