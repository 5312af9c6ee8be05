// size prints the library's size minified (esbuild) and gzipped (level 9),
// the number js/README.md states.
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { transform } from "esbuild";

export async function size() {
  const source = readFileSync(new URL("../index.js", import.meta.url), "utf8");
  const { code } = await transform(source, { minify: true, format: "esm", target: "es2022" });
  return { source: source.length, minified: code.length, gzipped: gzipSync(code, { level: 9 }).length };
}

// kib is how the README writes a size: KiB with one decimal.
export const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;

if (import.meta.url === `file://${process.argv[1]}`) {
  const s = await size();
  console.log(`index.js: ${s.source} bytes, minified ${s.minified} (${kib(s.minified)}), minified + gzip ${s.gzipped} (${kib(s.gzipped)})`);
}
