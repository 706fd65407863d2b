/**
 * Builds the UI into web/dist, served by the apiserver at /ui/ (so `base` is /ui/).
 * No dev-server specifics: the apiserver serves the build (`make web`).
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  root: here('.'),
  base: '/ui/',
  logLevel: 'warn',
  resolve: {
    alias: {
      // The create form asks the scheduler's own filter (controllers/scheduler) which nodes can
      // take a VM, so UI and scheduler cannot disagree. That module imports node:util for a
      // function the UI never calls; this browser stand-in keeps the import resolvable.
      'node:util': here('src/shims/node-util.ts'),
    },
  },
  oxc: { jsx: { runtime: 'automatic' } },
  build: {
    outDir: here('dist'),
    emptyOutDir: true,
    sourcemap: true,
    chunkSizeWarningLimit: 1500,
    rollupOptions: {
      onwarn(warning, warn) {
        // react-router marks modules "use client" (for React Server Components); meaningless in an SPA bundle.
        if (warning.code === 'MODULE_LEVEL_DIRECTIVE') return;
        warn(warning);
      },
    },
  },
});
