/// <reference types="vitest" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// `make dev` runs this beside the API: requests to the API's paths go to API_PORT (one origin in the
// browser, as in production where the API serves the built app).
const api = `http://127.0.0.1:${process.env.API_PORT ?? "8000"}`;

export default defineConfig({
  plugins: [react()],
  server: {
    host: "127.0.0.1",
    // Keys are path prefixes ("^…" a regex): "/p/" and not "/p", which would take "/properties" too.
    proxy: { "/api/": { target: api, ws: true }, "/p/": api, "/objects/": api, "/openapi.json": api, "/healthz": api },
  },
  build: {
    target: "es2020",
    // MapLibre GL is ~800 kB raw (~220 kB gzip) in its own chunk, loaded only with a property's comps map.
    chunkSizeWarningLimit: 850,
  },
  test: { environment: "node", include: ["src/**/*.test.ts"] },
});
