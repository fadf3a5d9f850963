// Builds the dashboard (index.html, served at /ui/) and the API docs page
// (docs.html, served at /docs) into ../httpapi/ui/dist, which the Go binary
// embeds. The output is deterministic: fixed file names, no hashes, no
// timestamps, no source maps, so `make ui-check` can compare a fresh build
// with the committed one byte for byte.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

const swagger = (f: string) => fileURLToPath(new URL(`./node_modules/swagger-ui-dist/${f}`, import.meta.url));

// swaggerUI copies Swagger UI's prebuilt bundle, stylesheet and licence
// verbatim (re-minifying 1.7 MB of already minified code gains nothing) and
// links them from docs.html.
function swaggerUI(): Plugin {
  return {
    name: 'lokihooks-swagger-ui',
    transformIndexHtml: {
      order: 'post',
      handler(_html, ctx) {
        if (!ctx.filename.endsWith('docs.html')) return;
        return [
          { tag: 'link', attrs: { rel: 'stylesheet', href: '/ui/assets/swagger-ui.css' }, injectTo: 'head' },
          // A classic script runs before the (deferred) module that uses it.
          { tag: 'script', attrs: { src: '/ui/assets/swagger-ui-bundle.js' }, injectTo: 'body' },
        ];
      },
    },
    generateBundle() {
      for (const [from, to] of [
        ['swagger-ui-bundle.js', 'assets/swagger-ui-bundle.js'],
        ['swagger-ui-bundle.js.LICENSE.txt', 'assets/swagger-ui-bundle.js.LICENSE.txt'],
        ['swagger-ui.css', 'assets/swagger-ui.css'],
      ]) {
        this.emitFile({ type: 'asset', fileName: to, source: readFileSync(swagger(from)) });
      }
    },
  };
}

// `npm run dev` serves the sources with live reload and sends API calls to a
// running lokihooks (LOKIHOOKS_URL, default that of `make run`).
const api = process.env.LOKIHOOKS_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  base: '/ui/',
  plugins: [swaggerUI()],
  server: { proxy: { '/api': api, '/openapi.json': api } },
  build: {
    outDir: '../httpapi/ui/dist',
    emptyOutDir: true,
    sourcemap: false,
    target: 'es2022',
    modulePreload: { polyfill: false },
    rollupOptions: {
      input: {
        index: fileURLToPath(new URL('./index.html', import.meta.url)),
        docs: fileURLToPath(new URL('./docs.html', import.meta.url)),
      },
      output: {
        entryFileNames: 'assets/[name].js',
        chunkFileNames: 'assets/[name].js',
        assetFileNames: 'assets/[name][extname]',
      },
    },
  },
});
