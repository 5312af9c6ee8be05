// Requests against a real scfws local: acks, messages, typed errors, a
// refused token, a kick, the bounded queue.
import { test } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { Client, Disconnected, Forbidden, InvalidMessage, ScfwsError, TooLarge, Unauthorized } from "../index.js";
import { gate, next, record, startLocal, until } from "./local.mjs";

test("acks carry ids and places; messages arrive decoded; refusals are typed errors", async (t) => {
  const local = await startLocal(t, { env: { MAX_MESSAGE_BYTES: "4096" } });
  const alice = local.client("alice"), bob = local.client("bob");
  const carol = local.client("carol", { roles: "sendToUser" });
  await Promise.all([alice.connect(), bob.connect(), carol.connect()]);
  assert.equal(alice.state, "connected");
  const joined = await alice.join("lobby");
  assert.deepEqual(joined, { group: "lobby", offset: 0, epoch: "" });
  await bob.join("lobby");
  assert.deepEqual(alice.groups(), ["lobby"]);
  const got = record(bob, "message");

  const text = await alice.sendToGroup("lobby", "hi 🙂", { noEcho: true });
  assert.equal(text.delivered, 1);
  assert.match(text.id, /^[0-9A-Z]{26}$/);
  assert.equal(text.offset, 1);
  assert.match(text.epoch, /^.{16}$/);
  const json = await alice.sendToGroup("lobby", { score: 3, list: [1, 2] });
  assert.equal(json.delivered, 2);
  await alice.sendToGroup("lobby", new Uint8Array([0, 1, 255]));
  await alice.sendToGroup("lobby", "[1]", { dataType: "binary" });
  const direct = await alice.sendToUser("bob", "psst");
  assert.match(direct.id, /^[0-9A-Z]{26}$/);
  await until("bob's five messages", () => got.length === 5);
  const [m1, m2, m3, m4, m5] = got.map(([, m]) => m);
  assert.deepEqual(m1, { from: "group", group: "lobby", fromUserId: "alice", dataType: "text", data: "hi 🙂", id: text.id, offset: 1, epoch: text.epoch });
  assert.deepEqual([m2.dataType, m2.data, m2.offset], ["json", { score: 3, list: [1, 2] }, 2]);
  assert.deepEqual([m3.dataType, [...m3.data], m3.offset], ["binary", [0, 1, 255], 3]);
  assert.deepEqual([...m4.data], [...new TextEncoder().encode("[1]")]);
  assert.deepEqual([m5.from, m5.fromUserId, m5.data, m5.id, m5.group], ["user", "alice", "psst", direct.id, undefined]);

  const list = await bob.listGroup("lobby");
  assert.deepEqual(list, { group: "lobby", users: [{ userId: "alice", connections: 1 }, { userId: "bob", connections: 1 }], anonymous: 0, truncated: false });
  const history = await bob.history("lobby", { limit: 2, before: 4 });
  assert.deepEqual(history.messages.map((m) => m.offset), [2, 3]);
  assert.deepEqual([...history.messages[1].data], [0, 1, 255]);
  assert.equal(history.offset, 4);
  assert.equal((await bob.userHistory()).messages[0].data, "psst");
  await bob.ping();

  const settled = (p) => p.then(() => null, (e) => e);
  const refusals = [
    ["a join the roles do not allow", carol.join("lobby"), Forbidden, 'no permission to join or leave "lobby"'],
    ["a send the roles do not allow", carol.sendToGroup("lobby", "x"), Forbidden, 'no permission to send to "lobby"'],
    ["a bad group name", alice.join(" lobby"), InvalidMessage, "group must be 1-128 bytes of printable UTF-8"],
    ["data that is not its dataType", alice.sendToGroup("lobby", { not: "text" }, { dataType: "text" }), InvalidMessage, undefined],
    ["a message over MAX_MESSAGE_BYTES", alice.sendToGroup("lobby", "x".repeat(5000)), TooLarge, undefined],
    ["a list of a group it is not in", carol.listGroup("lobby"), Forbidden, undefined],
  ];
  const errors = await Promise.all(refusals.map(([, p]) => settled(p)));
  for (const [i, [what, , Kind, message]] of refusals.entries()) {
    const err = errors[i];
    assert.ok(err instanceof Kind && err instanceof ScfwsError, `${what}: ${err}; want ${Kind.name}`);
    assert.equal(err.name, Kind.name, what);
    if (message) assert.equal(err.message, message, what);
  }
  assert.deepEqual(carol.groups(), []);
  assert.equal(carol.state, "connected", "a refusal leaves the connection as it was");

  await alice.leave("lobby");
  assert.deepEqual(alice.groups(), []);
  assert.deepEqual((await bob.listGroup("lobby")).users.map((u) => u.userId), ["bob"]);
  alice.disconnect();
  assert.equal(alice.state, "disconnected");
  const after = await alice.sendToGroup("lobby", "late").then(() => null, (e) => e);
  assert.ok(after instanceof Disconnected && after.sent === false, `a send after disconnect(): ${after}`);
});

test("a refused token: getToken once more, then it stops with Unauthorized", async (t) => {
  const local = await startLocal(t);
  let calls = 0;
  const c = new Client(local.ws, { WebSocket, getToken: () => { calls++; return "not-a-jwt"; } });
  t.after(() => c.disconnect());
  const events = record(c, "connecting", "disconnected", "error");
  const err = await c.connect().then(() => null, (e) => e);
  assert.ok(err instanceof Unauthorized, `connect(): ${err}`);
  assert.match(err.message, /errNo 401: malformed token/);
  assert.equal(err.errNo, 401);
  assert.equal(calls, 2);
  assert.equal(c.state, "disconnected");
  assert.deepEqual(events.map(([k, e]) => `${k} ${e.attempt ?? ""}${e.willReconnect ?? ""}${e.status ?? ""}`),
    ["connecting 0", "disconnected true403", "connecting 1", "error ", "disconnected false403"]);
  const calm = c.on("connecting", () => assert.fail("it connected again"));
  await new Promise((r) => setTimeout(r, 1500)); // longer than any backoff would wait
  calm();
  assert.equal(calls, 2);
});

test("a kick (the server's disconnected event) stops reconnecting", async (t) => {
  const local = await startLocal(t);
  const dave = local.client("dave");
  await dave.connect();
  await dave.join("lobby");
  const [id] = await local.connectionsOf("dave");
  const system = next(dave, "system");
  const gone = next(dave, "disconnected");
  await local.command({ op: "closeConnection", connectionId: id, reason: "banned for spam" });
  assert.deepEqual(await system, { event: "disconnected", message: "banned for spam" });
  const e = await gone;
  assert.equal(e.willReconnect, false);
  assert.equal(e.message, "banned for spam");
  assert.equal(dave.state, "disconnected");
  const calm = dave.on("connecting", () => assert.fail("it reconnected after a kick"));
  await new Promise((r) => setTimeout(r, 1500)); // longer than any backoff would wait
  calm();
  assert.deepEqual(await local.connectionsOf("dave"), []);
  // connect() starts again, and rejoins.
  await dave.connect();
  assert.deepEqual(dave.groups(), ["lobby"]);
});

test("requests made while reconnecting wait in a bounded queue, and go after the rejoin", async (t) => {
  const local = await startLocal(t);
  const bob = local.client("bob");
  await bob.connect();
  await bob.join("lobby");
  const got = record(bob, "message");
  const held = gate();
  let calls = 0;
  const amy = local.client("amy", { queueSize: 3, getToken: async () => { if (++calls > 1) await held.wait(); return local.token("amy"); } });
  await amy.connect();
  await amy.join("lobby");
  const [id] = await local.connectionsOf("amy");
  const reconnecting = next(amy, "connecting", (e) => e.attempt === 1);
  await local.drop(id);
  await reconnecting;
  assert.equal(amy.state, "connecting");
  const sends = [1, 2, 3, 4, 5].map((i) => amy.sendToGroup("lobby", `queued ${i}`).then((a) => a, (e) => e));
  for (const err of await Promise.all(sends.slice(3))) assert.ok(err instanceof Disconnected && err.sent === false && /queueSize/.test(err.message), `past the bound: ${err}`);
  held.open();
  const acks = await Promise.all(sends.slice(0, 3));
  assert.deepEqual(acks.map((a) => a.delivered), [2, 2, 2], "sent after the rejoin: both members got each");
  await until("bob's three messages", () => got.length === 3);
  assert.deepEqual(got.map(([, m]) => m.data), ["queued 1", "queued 2", "queued 3"]);
});
