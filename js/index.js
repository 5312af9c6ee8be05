// scfws-client: a client of the scfws.v1 subprotocol (docs/protocol.md in
// the scfws repository) for browsers and Node. It reconnects with backoff,
// rejoins its groups, and recovers every stream it follows (its groups and
// its user's) from the last offset it saw, delivering each message once and
// in offset order.

const PROTOCOL = "scfws.v1";

// A position past every stream's end: a joinGroup with it as since answers
// the group's position and replays nothing (recovered:false, "the offset is
// ahead of the stream"), which is where a fresh join starts following.
const PRESENT = { offset: Number.MAX_SAFE_INTEGER, epoch: "" };

// How many ids of messages outside any stream (sendToAll, sendToConnection,
// history off) are kept to drop a retried push.
const RECENT_IDS = 1000;

/** The base of every error this library throws or rejects with. */
export class ScfwsError extends Error {
  constructor(message, details) {
    super(message);
    if (details) Object.assign(this, details);
  }
}
ScfwsError.prototype.name = "ScfwsError";

// named makes an error class whose name survives minification.
function named(name) {
  const C = class extends ScfwsError {};
  Object.defineProperty(C, "name", { value: name });
  C.prototype.name = name;
  return C;
}

/** The request is not allowed (the token's roles). */
export const Forbidden = named("Forbidden");
/** The request is malformed: a bad name, data that does not match dataType. */
export const InvalidMessage = named("InvalidMessage");
/** The frame or message is over MAX_MESSAGE_BYTES. */
export const TooLarge = named("TooLarge");
/** The function failed (its database, say). */
export const Internal = named("Internal");
/** No ack came within ackTimeout. */
export const Timeout = named("Timeout");
/** Not connected, the queue is full, or the connection closed before the ack. */
export const Disconnected = named("Disconnected");
/** The token was refused; getToken may throw it to stop the client. */
export const Unauthorized = named("Unauthorized");

const refusals = { Forbidden, InvalidMessage, TooLarge, Internal };

function errorOf(e) {
  const message = String(e?.message ?? "refused");
  const Kind = refusals[e?.name];
  if (Kind) return new Kind(message);
  const err = new ScfwsError(message);
  err.name = String(e?.name ?? "ScfwsError");
  return err;
}

function stopped(name, message) {
  const err = new ScfwsError(message);
  err.name = name;
  return err;
}

function deferred() {
  const d = {};
  d.promise = new Promise((resolve, reject) => Object.assign(d, { resolve, reject }));
  return d;
}

function toBase64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function fromBase64(text) {
  try {
    const s = atob(text);
    const bytes = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) bytes[i] = s.charCodeAt(i);
    return bytes;
  } catch {
    return text;
  }
}

// encode gives a request's dataType and data: bytes go as binary (base64),
// a string as text, anything else as json, unless dataType says.
function encode(data, dataType) {
  const bytes = data instanceof ArrayBuffer ? new Uint8Array(data)
    : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : null;
  dataType ??= bytes ? "binary" : typeof data === "string" ? "text" : "json";
  if (dataType === "binary") return { dataType, data: toBase64(bytes ?? new TextEncoder().encode(String(data))) };
  return { dataType, data };
}

// decode is a message frame as the app gets it: binary data as bytes.
function decode(frame) {
  const { type, ...m } = frame;
  m.dataType ??= "text";
  if (m.dataType === "binary" && typeof m.data === "string") m.data = fromBase64(m.data);
  return m;
}

// answer is an ack without its envelope.
function answer(ack) {
  const { type, ackId, success, ...rest } = ack;
  return rest;
}

// A stream the client follows: a group's or its user's. epoch is null until
// the client knows where it starts; offset is the highest offset up to which
// it has delivered every message; buffer holds later ones until the gap
// before them fills (null marks the client's own noEcho message).
function newStream(spec) {
  return { spec, epoch: null, offset: 0, buffer: new Map(), early: [], timer: 0, resuming: false };
}

/** A scfws.v1 client that reconnects, rejoins and recovers by itself. */
export class Client {
  #url;
  #o;
  #WS;
  #state = "disconnected";
  #listeners = new Map();
  #sock = null; // the current attempt: {ws, token, opened, refusal}
  #gen = 0; // bumped when an attempt is abandoned
  #timer = 0; // the next attempt
  #beat = 0; // the heartbeat
  #attempt = 0; // attempts in this outage
  #failures = 0; // attempts in a row that did not reach connected
  #authRetried = false;
  #kicked = null; // the server's disconnected event on this connection
  #ready = null; // what connect() returned, until connected
  #seq = 0;
  #pending = new Map(); // ackId -> request
  #queue = []; // requests made while connecting
  #groups = new Map(); // name -> {name, stream, joined, inflight, waiters}
  #left = new Set(); // left on this connection: late messages are dropped
  #user = null; // the user's stream
  #ids = new Set();

  constructor(url, options = {}) {
    this.#url = url;
    const r = options.reconnect, h = options.heartbeat;
    this.#o = {
      getToken: options.getToken,
      reconnect: r === false ? null : { minDelay: 500, maxDelay: 20000, maxFailures: 20, ...r },
      ackTimeout: options.ackTimeout ?? 10000,
      queueSize: options.queueSize ?? 100,
      heartbeat: h === false ? null : { interval: 60000, message: "", ...h },
      gapDelay: options.gapDelay ?? 1000,
      userStream: options.userStream ?? true,
    };
    this.#WS = options.WebSocket ?? globalThis.WebSocket;
    if (typeof this.#WS !== "function") {
      throw new TypeError("scfws-client: no global WebSocket here: pass one, e.g. new Client(url, { WebSocket }) with ws's");
    }
  }

  /** "disconnected", "connecting" or "connected". */
  get state() {
    return this.#state;
  }

  /** The groups joined on the current connection. */
  groups() {
    return [...this.#groups.values()].filter((g) => g.joined).map((g) => g.name);
  }

  on(event, listener) {
    if (!this.#listeners.has(event)) this.#listeners.set(event, new Set());
    this.#listeners.get(event).add(listener);
    return () => this.off(event, listener);
  }

  off(event, listener) {
    this.#listeners.get(event)?.delete(listener);
  }

  #emit(event, e) {
    for (const listener of [...(this.#listeners.get(event) ?? [])]) {
      try {
        listener(e);
      } catch (err) {
        setTimeout(() => { throw err; }); // the app's bug, reported as uncaught, not ours to swallow
      }
    }
  }

  /** Connects; resolves once connected, rejects if the client stops first. */
  connect() {
    if (this.#state === "connected") return Promise.resolve();
    this.#ready ??= deferred();
    if (this.#state === "disconnected") {
      this.#attempt = this.#failures = 0;
      this.#authRetried = false;
      this.#state = "connecting";
      this.#emit("connecting", { attempt: 0, delay: 0 });
      this.#open();
    }
    return this.#ready.promise;
  }

  /** Closes the connection and stops reconnecting; connect() starts again. */
  disconnect() {
    if (this.#state === "disconnected") return;
    this.#stop(null, { code: 1000, reason: "disconnect()", opened: !!this.#sock?.opened });
  }

  // ---- attempts ----

  async #open() {
    const gen = ++this.#gen;
    let token;
    try {
      token = this.#o.getToken ? await this.#o.getToken() : null;
    } catch (err) {
      if (gen === this.#gen) this.#tokenFailed(err);
      return;
    }
    if (gen !== this.#gen) return;
    let ws;
    try {
      ws = new this.#WS(this.#url, token ? [PROTOCOL, "bearer." + token] : [PROTOCOL]);
    } catch (err) {
      this.#stop(stopped("Unsupported", `cannot open ${this.#url}: ${err?.message ?? err}`), {});
      return;
    }
    const s = { ws, token: !!token, opened: false, refusal: null };
    this.#sock = s;
    ws.onopen = () => this.#opened(s);
    ws.onmessage = (e) => this.#frame(s, e.data);
    ws.onclose = (e) => this.#closed(s, e.code, e.reason);
    ws.onerror = () => {}; // a close follows
    // ws (Node) shows a refused handshake's answer; browsers do not.
    if (typeof ws.on === "function") ws.on("unexpected-response", (req, res) => this.#refused(s, res));
  }

  #tokenFailed(err) {
    if (err instanceof Unauthorized) {
      this.#stop(err, {});
      return;
    }
    const error = err instanceof ScfwsError ? err : new ScfwsError(`getToken failed: ${err?.message ?? err}`, { cause: err });
    this.#emit("error", { error });
    this.#failed({ code: 0, reason: "getToken failed", opened: false });
  }

  // refused reads a refused handshake's status, X-Scfws-Errno and body.
  #refused(s, res) {
    const r = (s.refusal = { status: res.statusCode, errNo: Number(res.headers?.["x-scfws-errno"]) || 0, body: "" });
    let done = false;
    const end = () => {
      if (done) return;
      done = true;
      try { s.ws.terminate(); } catch { /* closed */ }
    };
    res.setEncoding?.("utf8");
    res.on("data", (d) => { if (r.body.length < 1024) r.body += d; });
    res.on("end", end);
    res.on("error", end);
    setTimeout(end, 1000).unref?.();
  }

  #opened(s) {
    if (s !== this.#sock) return;
    if (s.ws.protocol !== PROTOCOL) {
      this.#stop(stopped("Unsupported", `the server did not accept ${PROTOCOL} (it chose "${s.ws.protocol}")`), { opened: true });
      return;
    }
    s.opened = true;
    this.#heartbeat(s);
    // Rejoin every group and resume every stream; with nothing to follow,
    // a ping's ack shows the function answers this connection.
    const steps = [...this.#groups.values()].map((g) => this.#join(g));
    if (s.token && this.#o.userStream) steps.push(this.#followUser());
    if (!steps.length) steps.push(this.#call({ type: "ping" }, true));
    Promise.all(steps).then(() => this.#confirm(s), () => this.#drop(s, "no answer"));
  }

  #confirm(s) {
    if (s !== this.#sock) return;
    const attempt = this.#attempt;
    this.#attempt = this.#failures = 0;
    this.#authRetried = false;
    this.#state = "connected";
    for (const p of this.#queue.splice(0)) this.#write(p);
    this.#emit("connected", { attempt });
    this.#ready?.resolve();
    this.#ready = null;
  }

  #heartbeat(s) {
    const h = this.#o.heartbeat;
    if (!h || !(h.interval > 0)) return;
    this.#beat = setInterval(() => {
      if (!h.message) {
        this.#call({ type: "ping" }, true).catch(() => this.#drop(s, "no answer to a ping"));
        return;
      }
      try { s.ws.send(h.message); } catch { /* a close follows */ }
    }, h.interval);
  }

  // drop gives up on a connection that stopped answering.
  #drop(s, reason) {
    if (s !== this.#sock) return;
    try { s.ws.close(4000, reason); } catch { /* closed */ }
    this.#closed(s, 4000, reason);
  }

  #closed(s, code, reason) {
    if (s !== this.#sock) return;
    this.#sock = null;
    this.#teardown();
    const kicked = this.#kicked;
    this.#kicked = null;
    const info = { code, reason: reason ?? "", opened: s.opened };
    if (s.refusal) Object.assign(info, { status: s.refusal.status, errNo: s.refusal.errNo });
    if (kicked) {
      this.#stop(null, { ...info, message: kicked.message ?? "" });
      return;
    }
    if (s.refusal?.status === 403 && s.refusal.errNo === 401) {
      this.#unauthorized(s.refusal, info);
      return;
    }
    if (this.#state === "connected") {
      this.#again(info);
      return;
    }
    this.#failed(info);
  }

  // unauthorized: the function refused the token. A new one from getToken,
  // at once; refused again, the client stops.
  #unauthorized(r, info) {
    if (this.#authRetried || !this.#o.reconnect) {
      this.#stop(new Unauthorized(`the token was refused: ${r.body.trim() || "HTTP 403"}`, { errNo: r.errNo }), info);
      return;
    }
    this.#authRetried = true;
    this.#again(info, 0);
  }

  // failed counts an attempt that did not reach connected.
  #failed(info) {
    const r = this.#o.reconnect;
    if (r && ++this.#failures >= r.maxFailures) {
      this.#stop(stopped("Unreachable", `gave up after ${this.#failures} attempts in a row that did not connect (reconnect.maxFailures)`), info);
      return;
    }
    this.#again(info);
  }

  // again schedules the next attempt: exponential backoff with full
  // jitter, a random wait up to minDelay doubled per attempt, at most
  // maxDelay.
  #again(info, delay) {
    const r = this.#o.reconnect;
    if (!r) {
      this.#stop(null, info);
      return;
    }
    this.#state = "connecting";
    if (info.code) this.#emit("disconnected", { ...info, willReconnect: true });
    const attempt = ++this.#attempt;
    delay ??= Math.random() * Math.min(r.maxDelay, r.minDelay * 2 ** Math.min(attempt - 1, 30));
    this.#emit("connecting", { attempt, delay, code: info.code, reason: info.reason });
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#open(), delay);
  }

  #stop(error, info) {
    clearTimeout(this.#timer);
    this.#gen++;
    const s = this.#sock;
    this.#sock = null;
    try {
      s?.ws.close(1000);
    } catch { /* closed */ }
    this.#teardown();
    this.#state = "disconnected";
    for (const p of this.#queue.splice(0)) p.reject(new Disconnected("the client stopped", { sent: false }));
    for (const g of [...this.#groups.values()]) {
      if (g.stream.epoch !== null) continue; // joined before: rejoined by connect()
      this.#groups.delete(g.name);
      for (const w of g.waiters.splice(0)) w.reject(error ?? new Disconnected("the client stopped", { sent: false }));
    }
    const e = { code: 1000, reason: "", opened: false, ...info, willReconnect: false };
    if (error) {
      e.error = error;
      this.#emit("error", { error });
    }
    this.#emit("disconnected", e);
    const ready = this.#ready;
    this.#ready = null;
    ready?.reject(error ?? new Disconnected(e.message ? `the server disconnected the client: ${e.message}` : "disconnected", { sent: false }));
  }

  // teardown forgets what belonged to the connection that ended.
  #teardown() {
    clearInterval(this.#beat);
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(new Disconnected("the connection closed before the ack came: the request may have been carried out", { sent: true }));
    }
    this.#pending.clear();
    this.#left.clear();
    const streams = [...this.#groups.values()].map((g) => ((g.joined = false), g.stream));
    for (const st of this.#user ? [...streams, this.#user] : streams) {
      clearTimeout(st.timer);
      st.timer = 0;
      st.resuming = false;
    }
  }

  // ---- requests ----

  // call sends a request and resolves with its ack. Internal ones (now) go
  // on the open socket at once; the app's wait in the queue while
  // connecting.
  #call(frame, now = false) {
    return new Promise((resolve, reject) => {
      const p = { frame, resolve, reject, timer: 0 };
      if (now ? this.#sock?.opened : this.#state === "connected") {
        this.#write(p);
      } else if (!now && this.#state === "connecting" && this.#queue.length < this.#o.queueSize) {
        this.#queue.push(p);
      } else {
        reject(new Disconnected(this.#state === "connecting" && !now
          ? `reconnecting, and ${this.#o.queueSize} requests already wait (queueSize)` : "not connected", { sent: false }));
      }
    });
  }

  #write(p) {
    const ackId = ++this.#seq;
    let text;
    try {
      text = JSON.stringify({ ...p.frame, ackId });
    } catch (err) {
      p.reject(new InvalidMessage(`not JSON: ${err?.message ?? err}`));
      return;
    }
    try {
      this.#sock.ws.send(text);
    } catch (err) {
      p.reject(new Disconnected(`could not send: ${err?.message ?? err}`, { sent: false }));
      return;
    }
    this.#pending.set(ackId, p);
    p.timer = setTimeout(() => {
      this.#pending.delete(ackId);
      p.reject(new Timeout(`no ack within ${this.#o.ackTimeout} ms (ackTimeout)`));
    }, this.#o.ackTimeout);
  }

  /** Joins a group; resolves with its position once joined. */
  join(group) {
    if (this.#state === "disconnected") return Promise.reject(new Disconnected("not connected", { sent: false }));
    let g = this.#groups.get(group);
    if (g?.joined) return Promise.resolve({ group, offset: g.stream.offset, epoch: g.stream.epoch });
    if (!g) this.#groups.set(group, (g = { name: group, stream: newStream({ group }), joined: false, inflight: null, waiters: [] }));
    this.#left.delete(group);
    const joined = new Promise((resolve, reject) => g.waiters.push({ resolve, reject }));
    // Not open yet: the rejoin when it opens includes it.
    if (this.#sock?.opened && !g.inflight) this.#join(g).catch(() => {});
    return joined;
  }

  // join (re)joins g: from where its stream was, or at the present.
  #join(g) {
    const st = g.stream, known = st.epoch !== null;
    const since = known ? { offset: st.offset, epoch: st.epoch } : PRESENT;
    const s = this.#sock;
    g.inflight = this.#call({ type: "joinGroup", group: g.name, since }, true).then((a) => {
      g.inflight = null;
      if (this.#groups.get(g.name) === g) this.#joined(g, a.streams?.[0], known);
    }, (err) => {
      g.inflight = null;
      if (err instanceof Timeout) this.#drop(s, "no answer to a join");
      if (err instanceof Timeout || err instanceof Disconnected) throw err; // joined again after the reconnect
      if (this.#groups.get(g.name) === g) this.#refusedJoin(g, err, known);
    });
    return g.inflight;
  }

  #joined(g, state, known) {
    const st = g.stream;
    g.joined = true;
    if (known) this.#settle(st, state, true);
    else this.#begin(st, state);
    const done = { group: g.name, offset: st.offset, epoch: st.epoch };
    if (known) done.recovered = !!state?.recovered;
    for (const w of g.waiters.splice(0)) w.resolve(done);
  }

  #refusedJoin(g, err, known) {
    this.#groups.delete(g.name);
    clearTimeout(g.stream.timer);
    for (const w of g.waiters.splice(0)) w.reject(err);
    if (!known) return;
    this.#emit("recovery", { group: g.name, recovered: false, offset: g.stream.offset, epoch: g.stream.epoch, error: err });
    this.#emit("error", { error: err });
  }

  /** Leaves a group: it is no longer rejoined, its late messages dropped. */
  async leave(group) {
    const g = this.#groups.get(group);
    this.#groups.delete(group);
    this.#left.add(group);
    if (g) {
      clearTimeout(g.stream.timer);
      for (const w of g.waiters.splice(0)) w.reject(stopped("Canceled", `left ${group} before the join was acknowledged`));
      await g.inflight?.catch(() => {}); // leave after the join, not before it
    }
    if (!this.#sock?.opened) return; // no connection, no membership
    try {
      await this.#call({ type: "leaveGroup", group }, true);
    } catch (err) {
      if (!(err instanceof Disconnected)) throw err; // the membership ended with the connection
    }
  }

  /** Sends data to a group; resolves with the message's id, offset, epoch and delivered. */
  async sendToGroup(group, data, options = {}) {
    const frame = { type: "sendToGroup", group, ...encode(data, options.dataType) };
    if (options.noEcho) frame.noEcho = true;
    const a = await this.#call(frame);
    const g = this.#groups.get(group);
    if (options.noEcho && g && typeof a.offset === "number") this.#own(g.stream, a);
    return answer(a);
  }

  /** Sends data to every connection of a user; resolves with the message's id and delivered. */
  async sendToUser(userId, data, options = {}) {
    return answer(await this.#call({ type: "sendToUser", userId, ...encode(data, options.dataType) }));
  }

  /** Lists a group's users (only while a member of it). */
  async listGroup(group) {
    return answer(await this.#call({ type: "listGroup", group }));
  }

  /** A group's last messages, oldest first, and its latest position. */
  history(group, options = {}) {
    return this.#history({ group }, options);
  }

  /** The last messages to this connection's user, oldest first. */
  userHistory(options = {}) {
    return this.#history({ user: true }, options);
  }

  async #history(which, { limit, before } = {}) {
    const frame = { type: "history", ...which };
    if (limit !== undefined) frame.limit = limit;
    if (before !== undefined) frame.before = before;
    const a = answer(await this.#call(frame));
    a.messages = (a.messages ?? []).map(decode);
    return a;
  }

  /** Refreshes the connection's lease; resolves when the function answers. */
  async ping() {
    await this.#call({ type: "ping" });
  }

  // ---- frames ----

  #frame(s, data) {
    if (s !== this.#sock || typeof data !== "string") return;
    let f;
    try {
      f = JSON.parse(data);
    } catch {
      return; // scfws.v1 frames are JSON
    }
    if (f?.type === "ack") this.#ack(f);
    else if (f?.type === "message") this.#message(f);
    else if (f?.type === "system") this.#system(f);
  }

  #ack(f) {
    const p = this.#pending.get(f.ackId);
    if (!p) return;
    this.#pending.delete(f.ackId);
    clearTimeout(p.timer);
    if (f.success) p.resolve(f);
    else p.reject(errorOf(f.error));
  }

  #system(f) {
    if (f.event === "joined" || f.event === "left") {
      this.#emit("presence", { event: f.event, group: f.group, userId: f.userId });
      return;
    }
    if (f.event === "disconnected") this.#kicked = f;
    this.#emit("system", answer(f));
  }

  #message(f) {
    const group = typeof f.group === "string" ? f.group : "";
    if (group && this.#left.has(group)) return; // in flight when it was left
    const st = group ? this.#groups.get(group)?.stream : f.from === "group" ? null : this.#user;
    const m = decode(f);
    if (st && typeof f.offset === "number" && typeof f.epoch === "string") {
      this.#inStream(st, m);
      return;
    }
    if (!this.#ids.has(f.id)) this.#deliver(m);
  }

  #deliver(m) {
    if (m.id) {
      this.#ids.add(m.id);
      if (this.#ids.size > RECENT_IDS) this.#ids.delete(this.#ids.values().next().value);
    }
    this.#emit("message", m);
  }

  // ---- streams ----

  // followUser learns where the user's stream is (the first time), or
  // resumes it from there.
  #followUser() {
    const st = (this.#user ??= newStream({ user: true }));
    const known = st.epoch !== null;
    const req = known ? { type: "resume", streams: [{ user: true, offset: st.offset, epoch: st.epoch }] }
      : { type: "history", user: true, limit: 1 };
    return this.#call(req, true).then((a) => (known ? this.#settle(st, a.streams?.[0], true) : this.#begin(st, a)), (err) => {
      if (err instanceof Timeout || err instanceof Disconnected) throw err;
      this.#emit("error", { error: err });
    });
  }

  // begin sets where a stream starts to be followed. Messages that came
  // before are delivered (once each), in offset order.
  #begin(st, state) {
    st.epoch = typeof state?.epoch === "string" ? state.epoch : "";
    st.offset = Number(state?.offset) || 0;
    const before = new Set();
    for (const m of st.early.splice(0).sort((a, b) => a.offset - b.offset)) {
      if (m.epoch !== st.epoch || m.offset > st.offset) this.#inStream(st, m);
      else if (!before.has(m.offset)) {
        before.add(m.offset);
        this.#deliver(m);
      }
    }
  }

  #inStream(st, m) {
    if (st.epoch === null) {
      st.early.push(m); // before the join's ack
      return;
    }
    if (m.epoch !== st.epoch) {
      // "" is a stream that had no message yet: it starts now.
      if (st.epoch !== "") this.#newEpoch(st, m.epoch);
      st.epoch = m.epoch;
      st.offset = 0;
    }
    if (m.offset <= st.offset || st.buffer.has(m.offset)) return; // a repeat
    st.buffer.set(m.offset, m);
    this.#drain(st);
  }

  // newEpoch: the stream's past is gone (expired, or its store was
  // recreated). What waited is delivered, and the app told to reload.
  #newEpoch(st, epoch) {
    this.#flush(st, Infinity);
    this.#emit("recovery", { ...st.spec, recovered: false, offset: 0, epoch });
  }

  // own marks the client's own noEcho message as had: no push brings it.
  #own(st, a) {
    if (st.epoch === "" && st.offset === 0) st.epoch = a.epoch;
    if (st.epoch !== a.epoch || a.offset <= st.offset || st.buffer.has(a.offset)) return;
    st.buffer.set(a.offset, null);
    this.#drain(st);
  }

  // drain delivers what follows the stream's offset without a gap; a gap
  // that is still there after gapDelay is asked for (resume).
  #drain(st) {
    while (st.buffer.has(st.offset + 1)) {
      const m = st.buffer.get(++st.offset);
      st.buffer.delete(st.offset);
      if (m) this.#deliver(m);
    }
    if (!st.buffer.size) {
      clearTimeout(st.timer);
      st.timer = 0;
    } else if (!st.timer && !st.resuming) {
      st.timer = setTimeout(() => this.#fillGap(st), this.#o.gapDelay);
    }
  }

  #fillGap(st) {
    st.timer = 0;
    if (!st.buffer.size || this.#state !== "connected") return; // the reconnect resumes it
    st.resuming = true;
    this.#call({ type: "resume", streams: [{ ...st.spec, offset: st.offset, epoch: st.epoch }] }, true)
      .then((a) => this.#settle(st, a.streams?.[0], false), () => {})
      .finally(() => {
        st.resuming = false;
        this.#drain(st);
      });
  }

  // settle takes the server's answer to a resume (or a join with since):
  // every message up to its offset was pushed before it (recovered), or
  // will never be (not recovered). report: tell the app either way.
  #settle(st, state, report) {
    const recovered = !!state?.recovered;
    const offset = Number(state?.offset) || 0, epoch = typeof state?.epoch === "string" ? state.epoch : "";
    if (epoch !== st.epoch) {
      this.#flush(st, Infinity);
      st.epoch = epoch;
      st.offset = offset;
    } else {
      this.#flush(st, offset);
      st.offset = Math.max(st.offset, offset);
    }
    this.#drain(st);
    if (report || !recovered) this.#emit("recovery", { ...st.spec, recovered, offset, epoch });
  }

  // flush delivers the waiting messages up to offset, in order, gaps or not.
  #flush(st, offset) {
    for (const o of [...st.buffer.keys()].sort((a, b) => a - b)) {
      if (o > offset) break;
      const m = st.buffer.get(o);
      st.buffer.delete(o);
      if (m) this.#deliver(m);
    }
  }
}
