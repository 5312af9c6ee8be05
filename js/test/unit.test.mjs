// The client against a scripted server (a fake WebSocket): what a real
// server does only by chance, on demand: failed handshakes as browsers see
// them, late and lost pushes, a new epoch, an ack that never comes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Client, Timeout } from "../index.js";
import { next, record, until } from "./local.mjs";

// fakeServer returns a WebSocket class whose sockets the script drives:
// script.open(ws) decides whether a handshake succeeds, script.frame(ws, f)
// answers requests (those it returns false for get a plain ack).
function fakeServer(script) {
  const sockets = [];
  class FakeSocket {
    constructor(url, protocols) {
      Object.assign(this, { url, protocols, protocol: "", sent: [], closed: false });
      sockets.push(this);
      setTimeout(() => script.open(this), 0);
    }
    send(text) {
      if (!text.startsWith("{")) {
        this.sent.push(text); // a heartbeat
        return;
      }
      const f = JSON.parse(text);
      this.sent.push(f);
      setTimeout(() => script.frame?.(this, f) || this.ack(f), 0);
    }
    close(code = 1000, reason = "") {
      if (this.closed) return;
      this.closed = true;
      setTimeout(() => this.onclose?.({ code, reason }), 0);
    }
    accept() {
      this.protocol = "scfws.v1";
      this.onopen?.({});
    }
    fail() { // a refused handshake, as a browser reports it
      this.closed = true;
      this.onclose?.({ code: 1006, reason: "" });
    }
    push(f) {
      this.onmessage?.({ data: JSON.stringify(f) });
    }
    ack(f, more = {}) {
      this.push({ type: "ack", ackId: f.ackId, success: true, ...more });
    }
  }
  return { FakeSocket, sockets };
}

const message = (offset, epoch = "E1", group = "lobby") =>
  ({ type: "message", from: "group", group, fromUserId: "bob", dataType: "text", data: `m${offset}`, id: `id-${epoch}-${offset}`, offset, epoch });

test("consecutive failed handshakes back off with full jitter and stop after maxFailures", async (t) => {
  const { FakeSocket, sockets } = fakeServer({ open: (ws) => ws.fail() });
  const c = new Client("ws://x/websocket", { WebSocket: FakeSocket, reconnect: { minDelay: 20, maxDelay: 100, maxFailures: 6 } });
  t.after(() => c.disconnect());
  const events = record(c, "connecting", "disconnected", "error");
  const err = await c.connect().then(() => null, (e) => e);
  assert.equal(err?.name, "Unreachable");
  assert.match(err.message, /6 attempts in a row/);
  assert.equal(sockets.length, 6);
  const delays = events.filter(([k]) => k === "connecting").map(([, e]) => e.delay);
  const caps = [0, 20, 40, 80, 100, 100];
  assert.equal(delays.length, caps.length);
  delays.forEach((d, i) => assert.ok(d >= 0 && d <= caps[i], `attempt ${i}: waited ${d} ms; want at most ${caps[i]}`));
  const last = events.at(-1)[1];
  assert.deepEqual([last.willReconnect, last.opened, last.error?.name], [false, false, "Unreachable"]);
  assert.equal(c.state, "disconnected");
});

test("a gap waits gapDelay, then is asked for; repeats are dropped; delivery is in offset order", async (t) => {
  const { FakeSocket, sockets } = fakeServer({
    open: (ws) => ws.accept(),
    frame: (ws, f) => {
      if (f.type === "joinGroup") ws.ack(f, { streams: [{ group: "lobby", recovered: false, offset: 5, epoch: "E1" }] });
      if (f.type === "resume") {
        ws.push(message(7));
        ws.push(message(8)); // a repeat: came live too
        ws.ack(f, { streams: [{ group: "lobby", recovered: true, offset: 9, epoch: "E1" }] });
      }
      if (f.type === "sendToGroup") ws.ack(f, { delivered: 1, id: "mine", offset: 11, epoch: "E1" });
      return f.type !== "ping";
    },
  });
  const c = new Client("ws://x/websocket", { WebSocket: FakeSocket, gapDelay: 50 });
  t.after(() => c.disconnect());
  await c.connect();
  assert.deepEqual(await c.join("lobby"), { group: "lobby", offset: 5, epoch: "E1" });
  const got = record(c, "message", "recovery");
  const ws = sockets[0];
  for (const o of [4, 5, 6, 8, 6, 9]) ws.push(message(o)); // 4, 5: before the join's place; 6 twice
  assert.deepEqual(got.map(([, m]) => m.offset), [6], "8 and 9 wait for 7");
  await until("the resume", () => ws.sent.some((f) => f.type === "resume"));
  assert.deepEqual(ws.sent.find((f) => f.type === "resume").streams, [{ group: "lobby", offset: 6, epoch: "E1" }]);
  await until("7, 8, 9", () => got.length === 4);
  assert.deepEqual(got.map(([k, m]) => `${k} ${m.offset}`), ["message 6", "message 7", "message 8", "message 9"], "a recovered gap is not reported");
  // The client's own noEcho message (11) fills its place: 12 does not wait.
  ws.push(message(10));
  await c.sendToGroup("lobby", "mine", { noEcho: true });
  ws.push(message(12));
  assert.deepEqual(got.map(([, m]) => m.offset).slice(4), [10, 12]);
});

test("a gap that cannot be filled, or a new epoch, is reported: recovered false", async (t) => {
  const { FakeSocket, sockets } = fakeServer({
    open: (ws) => ws.accept(),
    frame: (ws, f) => {
      if (f.type === "joinGroup") ws.ack(f, { streams: [{ group: "lobby", recovered: false, offset: 0, epoch: "" }] });
      if (f.type === "resume") ws.ack(f, { streams: [{ group: "lobby", recovered: false, offset: 4, epoch: "E1" }] });
      return f.type !== "ping";
    },
  });
  const c = new Client("ws://x/websocket", { WebSocket: FakeSocket, gapDelay: 30 });
  t.after(() => c.disconnect());
  await c.connect();
  await c.join("lobby");
  const got = record(c, "message", "recovery");
  const ws = sockets[0];
  ws.push(message(1)); // the first message of a stream that had none
  ws.push(message(3));
  ws.push(message(4));
  await until("the report", () => got.some(([k]) => k === "recovery"));
  assert.deepEqual(got.map(([k, e]) => `${k} ${e.offset} ${e.recovered ?? ""}`), ["message 1 ", "message 3 ", "message 4 ", "recovery 4 false"]);
  ws.push(message(5));
  ws.push(message(1, "E2")); // the stream's past is gone
  assert.deepEqual(got.slice(4).map(([k, e]) => `${k} ${e.offset} ${e.epoch} ${e.recovered ?? ""}`),
    ["message 5 E1 ", "recovery 0 E2 false", "message 1 E2 "]);
});

test("an ack that does not come rejects with Timeout; a join or ping without one drops the connection", async (t) => {
  let answer = true;
  const { FakeSocket, sockets } = fakeServer({
    open: (ws) => ws.accept(),
    frame: () => !answer, // true: answered (by silence)
  });
  const c = new Client("ws://x/websocket", { WebSocket: FakeSocket, ackTimeout: 50, reconnect: { minDelay: 10 } });
  t.after(() => c.disconnect());
  await c.connect();
  answer = false;
  const err = await c.sendToUser("bob", "hi").then(() => null, (e) => e);
  assert.ok(err instanceof Timeout, `${err}`);
  assert.equal(c.state, "connected", "one late ack is the request's problem");
  const dropped = next(c, "disconnected");
  const joined = c.join("lobby");
  assert.equal((await dropped).code, 4000);
  answer = true;
  assert.equal((await joined).group, "lobby", "joined after the reconnect");
  assert.equal(sockets.length, 2);
});

test("heartbeats; a server that does not speak scfws.v1 stops the client", async (t) => {
  const { FakeSocket, sockets } = fakeServer({ open: (ws) => ws.accept() });
  const c = new Client("ws://x/websocket", { WebSocket: FakeSocket, heartbeat: { interval: 20, message: "__heartbeat__" } });
  t.after(() => c.disconnect());
  await c.connect();
  sockets[0].sent.length = 0;
  await until("two heartbeats", () => sockets[0].sent.length >= 2);
  const plain = fakeServer({ open: (ws) => ws.onopen({}) }); // accepts, choosing no subprotocol
  const d = new Client("ws://x/websocket", { WebSocket: plain.FakeSocket });
  const err = await d.connect().then(() => null, (e) => e);
  assert.equal(err?.name, "Unsupported");
  assert.equal(d.state, "disconnected");
});
