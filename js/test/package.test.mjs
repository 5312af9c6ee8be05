// The package as an app gets it: npm pack's tarball installs and imports,
// its types pass tsc --strict, the README's Node example runs as written
// against scfws local, and the README states the size it has.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, symlinkSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { kib, size } from "./size.mjs";
import { startLocal } from "./local.mjs";

const dir = fileURLToPath(new URL("..", import.meta.url));
const readme = readFileSync(join(dir, "README.md"), "utf8");

// example is the README's code block after a heading.
function example(heading, lang) {
  const m = readme.match(new RegExp(`### ${heading}\\n\\n\`\`\`${lang}\\n([\\s\\S]*?)\`\`\``));
  assert.ok(m, `README.md has no ${lang} block under ### ${heading}`);
  return m[1];
}

test("the README states the library's size", async () => {
  const s = await size();
  const n = (x) => x.toLocaleString("en-US");
  for (const want of [`| \`index.js\` | ${n(s.source)} |`, `| minified (esbuild) | ${n(s.minified)} |`,
    `| **minified + gzip -9** | **${n(s.gzipped)} (${kib(s.gzipped)})** |`, `**${kib(s.gzipped)} minified and gzipped**`]) {
    assert.ok(readme.includes(want), `README.md lacks ${want} (npm run size)`);
  }
});

test("tsc --noEmit --strict accepts the types, and a program using them", () => {
  // Two runs: the program's skips checking declaration files (ws's need
  // all of @types/node, 20 s more), so index.d.ts is checked on its own.
  for (const project of ["tsconfig.json", "tsconfig.dts.json"]) {
    const tsc = spawnSync(process.execPath, [join(dir, "node_modules", "typescript", "bin", "tsc"), "--noEmit", "--strict", "-p", join(dir, "test", "types", project)], { encoding: "utf8" });
    assert.equal(tsc.status, 0, `${project}: ${tsc.stdout}${tsc.stderr}`);
  }
});

test("npm pack's tarball installs and imports; the README's Node example runs as written", async (t) => {
  const work = mkdtempSync(join(tmpdir(), "scfws-client-pack-"));
  const npm = (args, cwd) => execFileSync("npm", [...args, "--no-audit", "--no-fund", "--loglevel=error"], { cwd, encoding: "utf8" });
  const packed = JSON.parse(npm(["pack", "--json", "--pack-destination", work], dir))[0];
  assert.deepEqual(packed.files.map((f) => f.path).sort(), ["README.md", "index.d.ts", "index.js", "package.json"]);
  const app = join(work, "app");
  mkdirSync(app);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
  npm(["install", "--offline", join(work, packed.filename)], app);
  // ws, as the app would install it from the registry: this checkout's.
  symlinkSync(join(dir, "node_modules", "ws"), join(app, "node_modules", "ws"), "dir");
  const imported = execFileSync(process.execPath, ["--input-type=module", "-e",
    'const m = await import("scfws-client"); console.log(Object.keys(m).sort().join(" "))'], { cwd: app, encoding: "utf8" });
  assert.equal(imported.trim(), "Client Disconnected Forbidden Internal InvalidMessage ScfwsError Timeout TooLarge Unauthorized");

  const local = await startLocal(t);
  writeFileSync(join(app, "example.mjs"), example("In Node", "js"));
  const run = spawnSync(process.execPath, ["example.mjs"], { cwd: app, encoding: "utf8", timeout: 30000, env: { ...process.env, SCFWS_LOCAL: local.base } });
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /^lobby bot: hello from Node\nsent [0-9A-Z]{26} \(offset 1\) to 1 connections\nclosed 1000 \n$/);
});
