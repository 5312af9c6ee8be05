// A small program against the package's types: `tsc --noEmit --strict -p
// test/types` must accept it (it is checked, not run).
import WebSocket from "ws";
import { Client, Disconnected, Forbidden, ScfwsError, type Message, type RecoveryEvent } from "scfws-client";

const base = "http://127.0.0.1:8080";

async function main(): Promise<void> {
  const client = new Client("ws://127.0.0.1:8080/websocket", {
    WebSocket, // ws's class, as Node 20 needs
    getToken: async () => ((await (await fetch(`${base}/_scfws/token?sub=alice`)).json()) as { token: string }).token,
    reconnect: { minDelay: 250, maxDelay: 10_000, maxFailures: 10 },
    ackTimeout: 5000,
    queueSize: 10,
    heartbeat: { interval: 30_000, message: "__heartbeat__" },
  });
  const off = client.on("message", (m: Message) => {
    const text: string = m.dataType === "text" ? String(m.data) : JSON.stringify(m.data);
    console.log(m.group ?? "(direct)", m.fromUserId ?? "anonymous", text, m.offset);
  });
  client.on("recovery", (r: RecoveryEvent) => {
    if (!r.recovered && r.group) void client.history(r.group, { limit: 50, before: r.offset + 1 });
  });
  client.on("disconnected", (e) => console.log(e.code, e.reason, e.willReconnect, e.message ?? "", e.error?.name));
  client.on("connecting", (e) => console.log(e.attempt, e.delay));
  client.on("presence", (p) => console.log(p.event === "joined" ? "+" : "-", p.userId, p.group));
  client.on("error", ({ error }) => console.log(error.name, error.message));
  await client.connect();
  const joined = await client.join("lobby");
  const position: number = joined.offset;
  try {
    const sent = await client.sendToGroup("lobby", { score: 3 }, { noEcho: true });
    console.log(sent.id, sent.delivered, sent.offset ?? position);
    await client.sendToUser("bob", new Uint8Array([1, 2, 3]));
  } catch (err) {
    if (err instanceof Forbidden) console.log("not allowed:", err.message);
    else if (err instanceof Disconnected) console.log("sent:", err.sent);
    else if (err instanceof ScfwsError) console.log(err.name);
  }
  const list = await client.listGroup("lobby");
  console.log(list.users.map((u) => `${u.userId} x${u.connections}`), list.anonymous, list.truncated);
  const history = await client.history("lobby", { limit: 10 });
  console.log(history.messages.length, history.offset, history.epoch, client.groups(), client.state);
  await client.userHistory({ limit: 1 });
  await client.ping();
  await client.leave("lobby");
  off();
  client.disconnect();
}

// In a browser the global WebSocket is the default.
const browser: Client = new Client("wss://example.com/websocket", { WebSocket: globalThis.WebSocket, reconnect: false, heartbeat: false });
void browser;
void main();
