import { defineConfig } from 'vite';

/**
 * The console's build: one small bundle under dist/console, served by the API at `/` (api/console-static.ts).
 * No dev server is needed: the API serves the built files. JSX uses React's automatic runtime.
 */
export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  publicDir: false,
  logLevel: 'warn',
  oxc: { jsx: { runtime: 'automatic' } },
  build: {
    outDir: '../dist/console',
    emptyOutDir: true,
    assetsDir: 'assets',
    sourcemap: false,
    target: 'es2022',
    chunkSizeWarningLimit: 400,
  },
});
