// Recovery against a real scfws local: a drop (POST .../drop, as after a
// failed push) is followed by a reconnect with a fresh token, a rejoin of
// every group and a resume of every stream; the app gets everything sent
// meanwhile, once each and in order.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Unauthorized } from "../index.js";
import { gate, next, record, sign, startLocal, until } from "./local.mjs";

const numbered = (prefix, n) => Array.from({ length: n }, (_, i) => `${prefix} ${i + 1}`);

// texts is what a recorder got, as "where: data" lines.
const texts = (got, where) => got.filter(([k, m]) => k === "message" && (m.group ?? "direct") === where).map(([, m]) => m.data);

test("after a drop it rejoins and recovers every message sent meanwhile, in order and once", async (t) => {
  const local = await startLocal(t);
  const bob = local.client("bob");
  await bob.connect();
  await bob.join("lobby");
  await bob.join("dev");
  const held = gate();
  let calls = 0;
  const amy = local.client("amy", { getToken: async () => { if (++calls > 1) await held.wait(); return local.token("amy"); } });
  await amy.connect();
  await amy.join("lobby");
  await amy.join("dev");
  const got = record(amy, "message", "recovery", "connected");
  const sendAll = async (group, prefix, n) => { for (const s of numbered(prefix, n)) await bob.sendToGroup(group, s, { noEcho: true }); };
  const dmAll = async (prefix, n) => { for (const s of numbered(prefix, n)) await bob.sendToUser("amy", s); };
  await sendAll("lobby", "before", 5);
  await until("amy to get the first five", () => texts(got, "lobby").length === 5);

  const [id] = await local.connectionsOf("amy");
  const away = next(amy, "connecting", (e) => e.attempt === 1);
  await local.drop(id);
  await away; // amy's getToken now waits: she is away until the gate opens
  await sendAll("lobby", "while away", 20);
  await sendAll("dev", "dev while away", 10);
  await dmAll("dm while away", 5);
  held.open();
  await next(amy, "connected");
  await sendAll("lobby", "after", 3);
  await until("amy to get the last three", () => texts(got, "lobby").length >= 28);

  assert.deepEqual(texts(got, "lobby"), [...numbered("before", 5), ...numbered("while away", 20), ...numbered("after", 3)]);
  assert.deepEqual(texts(got, "dev"), numbered("dev while away", 10));
  assert.deepEqual(texts(got, "direct"), numbered("dm while away", 5));
  const recoveries = got.filter(([k]) => k === "recovery").map(([, e]) => `${e.group ?? "user"} ${e.recovered}`).sort();
  assert.deepEqual(recoveries, ["dev true", "lobby true", "user true"]);
  assert.deepEqual(got.filter(([k]) => k === "connected").map(([, e]) => e.attempt), [1]);
  assert.equal(calls, 2, "getToken is called before every connect");
  assert.notEqual((await local.connectionsOf("amy"))[0], id, "a new connection");
  assert.deepEqual(amy.groups().sort(), ["dev", "lobby"]);
  // Each message once, offsets in order with no gap.
  const offsets = got.filter(([k, m]) => k === "message" && m.group === "lobby").map(([, m]) => m.offset);
  assert.deepEqual(offsets, offsets.map((_, i) => i + 1));
});

test("frames handled concurrently arrive out of order and around a drop: delivered in offset order, once", async (t) => {
  const local = await startLocal(t, { args: ["-concurrent-frames"] });
  const bob = local.client("bob");
  const amy = local.client("amy", { gapDelay: 300 });
  await Promise.all([bob.connect(), amy.connect()]);
  await Promise.all([bob.join("lobby"), amy.join("lobby")]);
  const got = record(amy, "message", "recovery");
  const [id] = await local.connectionsOf("amy");
  const n = 60; // under HISTORY_SIZE (100): a drop misses fewer than local keeps
  const sends = numbered("burst", n).map((s, i) => {
    if (i === n / 2) local.drop(id).catch((err) => assert.fail(err));
    return bob.sendToGroup("lobby", s, { noEcho: true });
  });
  const acks = await Promise.all(sends);
  await until(`amy to get all ${n}`, () => texts(got, "lobby").length >= n, 30000);
  const messages = got.filter(([k]) => k === "message").map(([, m]) => m);
  assert.deepEqual(messages.map((m) => m.offset), messages.map((_, i) => i + 1), "offset order, no repeat, no gap");
  const byOffset = new Map(acks.map((a, i) => [a.offset, `burst ${i + 1}`]));
  assert.deepEqual(messages.map((m) => m.data), messages.map((m) => byOffset.get(m.offset)));
  assert.ok(got.every(([k, e]) => k !== "recovery" || e.recovered), `recoveries: ${JSON.stringify(got.filter(([k]) => k === "recovery"))}`);
});

test("a reconnect asks getToken for a fresh token; a client that keeps an expired one stops", async (t) => {
  const secret = "js-client-tests-auth-secret-0123456789abcdef";
  const local = await startLocal(t, { env: { AUTH_SECRET: secret } });
  // Tokens that expire 2 s from now, past the function's 30 s of leeway.
  const now = Math.floor(Date.now() / 1000);
  const shortLived = (sub) => sign(secret, { sub, iat: now - 60, exp: now - 28, roles: ["joinLeaveGroup", "sendToGroup"] });
  let calls = 0;
  const amy = local.client("amy", { getToken: () => (++calls === 1 ? shortLived("amy") : local.token("amy")) });
  let stale = 0;
  const ben = local.client("ben", { getToken: () => { stale++; return shortLived("ben"); } });
  await Promise.all([amy.connect(), ben.connect()]);
  await amy.join("lobby");
  await new Promise((r) => setTimeout(r, (now + 3) * 1000 - Date.now())); // the short-lived tokens expire
  const amyBack = next(amy, "connected");
  const benDone = next(ben, "disconnected", (e) => !e.willReconnect);
  for (const user of ["amy", "ben"]) await local.drop((await local.connectionsOf(user))[0]);
  assert.equal((await amyBack).attempt, 1);
  assert.equal(calls, 2);
  assert.deepEqual(amy.groups(), ["lobby"]);
  const e = await benDone;
  assert.ok(e.error instanceof Unauthorized, `ben stopped with ${e.error}`);
  assert.match(e.error.message, /token expired/);
  assert.equal(stale, 3, "ben's first connect, the reconnect, and once more");
});
