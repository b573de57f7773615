import { defineConfig } from "vite";

// The bundle goes into the Python package, where `runbase server` and `runbase ui` serve it.
export default defineConfig({
  base: "./",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "../src/runbase/server/_ui_dist",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    chunkSizeWarningLimit: 400,
  },
  server: {
    // `npm run dev` against a `runbase server` on the default port.
    proxy: { "/api": "http://127.0.0.1:5000" },
  },
});
