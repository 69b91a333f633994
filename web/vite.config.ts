/// <reference types="vitest" />
import { defineConfig } from "vite";

// React without a plugin: esbuild compiles the JSX (automatic runtime); no fast refresh needed.
export default defineConfig({
  esbuild: { jsx: "automatic" },
  base: "./",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    chunkSizeWarningLimit: 1000,
    sourcemap: false,
  },
  server: {
    proxy: {
      "/ws": { target: "ws://127.0.0.1:4321", ws: true },
      "/api": { target: "http://127.0.0.1:4321" },
    },
  },
  test: {
    include: ["test/**/*.test.ts"],
    environment: "node",
  },
});
