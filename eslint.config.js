// A type-aware pass for what Biome cannot see without types: promises that are dropped or
// handed to a callback that ignores them (Biome lints and formats everything else, see biome.jsonc).
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  {
    // Generated and built output; *.js/*.mjs/*.cjs are a few lines of config and launchers with no
    // promises, and web/vite.config.ts is in no tsconfig (vite loads it).
    ignores: ['api-types/generated/**', 'node_modules/**', 'web/dist/**', '.quantix/**', '**/*.js', '**/*.mjs', '**/*.cjs', 'web/vite.config.ts'],
  },
  {
    files: ['**/*.ts', '**/*.tsx'],
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: {
        project: ['tsconfig.json', 'web/tsconfig.json', 'web/tsconfig.e2e.json'],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
    },
  },
);
