// Test support: a real `scfws local` (SCFWS_BIN, or built from this
// checkout), tokens from it, backend commands through its signed route, and
// waiting for a client's events.
import { spawn, execFileSync } from "node:child_process";
import { createHmac, randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import { Client } from "../index.js";

export const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

let built = "";

// binary is the scfws to run: SCFWS_BIN (a Go e2e test passes the one it
// built), or one go build makes once per test file.
function binary() {
  if (process.env.SCFWS_BIN) return process.env.SCFWS_BIN;
  if (!built) {
    built = join(mkdtempSync(join(tmpdir(), "scfws-js-")), "scfws");
    execFileSync("go", ["build", "-o", built, "."], { cwd: repo, stdio: "inherit" });
  }
  return built;
}

const publishSecret = "js-client-tests-publish-secret-0123456789";

// startLocal runs scfws local on a free port until the test ends, and waits
// until its function answered.
export async function startLocal(t, { env = {}, args = [] } = {}) {
  const child = spawn(binary(), ["local", "-addr", "127.0.0.1:0", ...args], {
    env: { PATH: process.env.PATH, LOG_LEVEL: "warn", PUBLISH_SECRET: publishSecret, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => { stderr += d; });
  const exited = new Promise((resolve) => child.on("exit", resolve));
  t.after(async () => {
    child.kill("SIGINT");
    await exited;
  });
  const local = { base: "", ws: "" };
  const lines = createInterface({ input: child.stdout });
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`local did not get ready:\n${stderr}`)), 30000);
    lines.on("line", (line) => {
      const f = line.trim().split(/\s+/);
      if (f[0] === "chat" && f[1] === "page") local.base = f[2].replace(/\/$/, "");
      if (f[0] === "WebSocket") local.ws = f[1];
      if (f[0] === "ready") {
        clearTimeout(timer);
        resolve();
      }
    });
    exited.then((code) => reject(new Error(`local exited (${code}):\n${stderr}`)));
  });
  await ready;
  return Object.assign(local, {
    token: (sub, roles) => token(local.base, sub, roles),
    command: (cmd) => command(local.base, cmd),
    drop: (id) => drop(local.base, id),
    // connectionsOf is the IDs of a user's open connections.
    connectionsOf: async (user) => (await command(local.base, { op: "listUser", userId: user })).connections ?? [],
    // client makes a Client for a user (getToken: a token from local with
    // roles, all of the chat page's by default) that the test disconnects.
    client: (sub, options = {}) => {
      const c = new Client(local.ws, { WebSocket, getToken: sub ? () => token(local.base, sub, options.roles) : undefined, ...options });
      t.after(() => c.disconnect());
      return c;
    },
  });
}

// token asks local's token endpoint for a token for sub, with roles
// (undefined: the chat page's joinLeaveGroup, sendToGroup, sendToUser).
export async function token(base, sub, roles) {
  const q = new URLSearchParams({ sub });
  if (roles !== undefined) q.set("roles", roles);
  const res = await fetch(`${base}/_scfws/token?${q}`);
  const body = await res.json();
  if (!res.ok) throw new Error(`token for ${sub}: ${JSON.stringify(body)}`);
  return body.token;
}

// command runs a backend command through local's signed HTTP route.
export async function command(base, cmd) {
  const body = JSON.stringify({ scfws: cmd, nonce: randomUUID() });
  const ts = String(Math.floor(Date.now() / 1000));
  const sig = createHmac("sha256", publishSecret).update(`${ts}\n${body}`).digest("hex");
  const res = await fetch(`${base}/_scfws/http/publish`, {
    method: "POST", body, headers: { "X-Scfws-Timestamp": ts, "X-Scfws-Signature": `sha256=${sig}` },
  });
  const reply = await res.json();
  if (reply.errNo !== 0) throw new Error(`${cmd.op}: ${JSON.stringify(reply)}`);
  return reply;
}

// sign makes an HS256 token with claims, as the function's AUTH_SECRET
// verifies it.
export function sign(secret, claims) {
  const part = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const unsigned = `${part({ alg: "HS256", typ: "JWT" })}.${part(claims)}`;
  return `${unsigned}.${createHmac("sha256", secret).update(unsigned).digest("base64url")}`;
}

// drop makes local's gateway drop a connection once, as a failed push does.
export async function drop(base, id) {
  const res = await fetch(`${base}/_scfws/connections/${encodeURIComponent(id)}/drop`, { method: "POST" });
  if (!res.ok) throw new Error(`drop ${id}: HTTP ${res.status}`);
}

// next resolves with a client's next event that pred accepts.
export function next(client, event, pred = () => true, ms = 20000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${event} event within ${ms} ms`));
    }, ms);
    const off = client.on(event, (e) => {
      if (!pred(e)) return;
      clearTimeout(timer);
      off();
      resolve(e);
    });
  });
}

// record collects a client's events of some kinds, in order, as [kind, event].
export function record(client, ...events) {
  const got = [];
  for (const ev of events) client.on(ev, (e) => got.push([ev, e]));
  return got;
}

// until polls cond until it holds.
export async function until(what, cond, ms = 20000) {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// gate is a promise the test opens: a getToken that awaits it holds the
// client's reconnect until the test is ready.
export function gate() {
  let open;
  const p = new Promise((resolve) => { open = resolve; });
  return { wait: () => p, open: () => open() };
}
