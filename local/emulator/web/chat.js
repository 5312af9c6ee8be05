// The chat page's code. It speaks scfws.v1 through scfws-client (js/ in the
// repository, served at /_scfws/scfws-client.js), which reconnects, rejoins
// the page's rooms and recovers what they missed; this file is the page:
// rooms, messages, presence, and what it says about the connection.
import { Client, Unauthorized } from "/_scfws/scfws-client.js";

const $ = (id) => document.getElementById(id);
const text = $("text"), nameInput = $("name"), send = $("send"), toggle = $("toggle");
const MAX_LINES = 500;           // per room
const DEFAULT_ROOM = "lobby";
let cfg = { path: "/websocket", heartbeatMessage: "", heartbeatIntervalMs: 300000, tokens: true };

// ---- names ---------------------------------------------------------------

// The function takes names (users, rooms) of 1-128 bytes of printable
// UTF-8 with no space at either end; the page trims and checks the rest.
const bytes = (s) => new TextEncoder().encode(s).length;
function nameProblem(s) {
  if (!s) return "cannot be empty";
  if (bytes(s) > 128) return "is longer than 128 bytes";
  if (/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u.test(s)) return "has control characters";
  return "";
}
function fromHash() {
  try { return decodeURIComponent(location.hash.slice(1)).trim(); } catch (_) { return ""; }
}
const store = (area, key, value) => { try { area.setItem(key, value); } catch (_) { /* private mode */ } };
const load = (area, key) => { try { return area.getItem(key); } catch (_) { return null; } };

// This tab's name: the URL's #name, else what this tab used (a reload),
// else the last name used anywhere, else a new guest name.
let me = [fromHash(), load(sessionStorage, "scfws-name"), load(localStorage, "scfws-name")].find((n) => n && !nameProblem(n)) ||
  "guest-" + Math.random().toString(36).slice(2, 6);
nameInput.value = me;
store(sessionStorage, "scfws-name", me);
store(localStorage, "scfws-name", me);

// ---- rooms ---------------------------------------------------------------

// Every room this tab is in, with its own log; rejoined after a reconnect.
// A room's presence is null until listGroup answers, and while it is
// pending the joined/left events wait in pendingEvents (applied after the
// snapshot, so none is lost or undone).
const rooms = new Map(); // name -> {item, log, joined, unread, presence, pendingEvents}
let active = "";

function saveRooms() {
  store(sessionStorage, "scfws-rooms", JSON.stringify([...rooms.keys()]));
  store(sessionStorage, "scfws-room", active);
}

// A log for when the tab is in no room: connection lines, server and
// direct messages still show.
const noRoomLog = makeLog("");
{
  const hint = document.createElement("li");
  hint.className = "hint";
  hint.textContent = "You are in no room: join one on the left.";
  noRoomLog.append(hint);
}

function makeLog(room) {
  const log = document.createElement("ol");
  log.className = "log";
  log.dataset.room = room;
  log.hidden = true;
  $("logs").append(log);
  return log;
}

function addRoom(room) {
  if (rooms.has(room)) return rooms.get(room);
  const item = document.createElement("li");
  item.dataset.room = room;
  item.dataset.joined = "false";
  const pick = document.createElement("button");
  pick.type = "button";
  pick.className = "room";
  const hash = document.createElement("span"), label = document.createElement("span"), unread = document.createElement("span");
  hash.textContent = "#";
  hash.setAttribute("aria-hidden", "true");
  label.className = "name";
  label.textContent = room;
  unread.className = "unread";
  pick.append(hash, label, unread);
  pick.addEventListener("click", () => { select(room); text.focus(); });
  const leave = document.createElement("button");
  leave.type = "button";
  leave.className = "leave";
  leave.textContent = "×";
  leave.title = "leave " + room;
  leave.setAttribute("aria-label", "leave " + room);
  leave.addEventListener("click", () => leaveRoom(room));
  item.append(pick, leave);
  $("rooms").append(item);
  const st = { item, log: makeLog(room), joined: false, unread: 0, presence: null, pendingEvents: null };
  rooms.set(room, st);
  saveRooms();
  return st;
}

function select(room) {
  if (room && !rooms.has(room)) return;
  active = room;
  noRoomLog.hidden = room !== "";
  for (const [name, st] of rooms) {
    const on = name === room;
    st.log.hidden = !on;
    st.item.classList.toggle("active", on);
    st.item.querySelector(".room").setAttribute("aria-current", on ? "true" : "false");
    if (on) {
      st.unread = 0;
      st.item.querySelector(".unread").textContent = "";
      st.log.scrollTop = st.log.scrollHeight;
    }
  }
  $("room-title").textContent = room ? "# " + room : "no room";
  text.placeholder = room ? "Message #" + room + "…" : "Join a room to talk";
  saveRooms();
  renderPresence();
  updateSend();
}

// Alt+Up/Down walks the room list.
function step(by) {
  const names = [...rooms.keys()];
  if (!names.length) return;
  const i = names.indexOf(active);
  select(names[(i + by + names.length) % names.length]);
}

function setJoined(st, joined) {
  st.joined = joined;
  st.item.dataset.joined = String(joined);
}

// ---- rendering -----------------------------------------------------------
// Everything a user or the server sent is set as textContent: never HTML.

const clock = (t) => (t ? new Date(t) : new Date()).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });

// When the function accepted a message: its id starts with 48 bits of
// Unix milliseconds in Crockford's base32 (10 characters, 50 bits).
function idTime(id) {
  if (typeof id !== "string" || id.length < 10) return 0;
  let v = 0;
  for (const ch of id.slice(0, 10)) {
    const d = "0123456789ABCDEFGHJKMNPQRSTVWXYZ".indexOf(ch);
    if (d < 0) return 0;
    v = v * 32 + d;
  }
  return Math.floor(v / 4);
}

function logOf(room) {
  return room && rooms.has(room) ? rooms.get(room).log : noRoomLog;
}

function append(room, li, counts) {
  const log = logOf(room);
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  log.append(li);
  while (log.children.length > MAX_LINES) log.firstElementChild.remove();
  if (atBottom || log.hidden) log.scrollTop = log.scrollHeight;
  const st = rooms.get(room);
  if (counts && st && room !== active) {
    st.unread++;
    st.item.querySelector(".unread").textContent = String(st.unread);
  }
  return li;
}

function systemLine(room, msg, cls) {
  const li = document.createElement("li");
  li.className = "system" + (cls ? " " + cls : "");
  li.textContent = msg;
  return append(room, li, false);
}

// A line in every room (connection events): each room may have missed
// messages while the connection was down.
function everywhere(msg, cls) {
  const out = new Map();
  for (const room of rooms.size ? rooms.keys() : [""]) out.set(room, systemLine(room, msg, cls));
  return out;
}

// place puts a message of a stream (one with an offset) in offset order
// among the log's messages of its epoch: pushes from different instances
// may arrive out of order, and replayed ones after later live ones.
function place(room, li, m) {
  li.dataset.epoch = m.epoch;
  li.dataset.offset = String(m.offset);
  const log = logOf(room);
  let before = null;
  for (let c = log.lastElementChild; c; c = c.previousElementSibling) {
    if (c.dataset.offset === undefined || c.dataset.epoch !== m.epoch) continue;
    if (Number(c.dataset.offset) < m.offset) break;
    before = c;
  }
  if (!before) return append(room, li, true);
  log.insertBefore(li, before);
  return li;
}

// message adds a bubble; kind is mine, theirs, server or direct. m, the
// message frame, when it has one: its time and place.
function message(room, kind, who, body, m) {
  const li = document.createElement("li");
  li.className = "msg " + kind;
  const w = document.createElement("div"), b = document.createElement("div");
  w.className = "who";
  if (kind === "server") {
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.textContent = "server";
    w.append(badge, " " + who + clock(m && idTime(m.id)));
  } else {
    w.textContent = who + clock(m && idTime(m.id));
  }
  b.className = "bubble";
  b.textContent = body;
  li.append(w, b);
  if (m && m.id) li.dataset.id = m.id;
  if (m && typeof m.offset === "number") return place(room, li, m);
  return append(room, li, true);
}

function setMark(li, state, label, title) {
  let m = li.querySelector(".mark");
  if (!m) {
    m = document.createElement("div");
    m.className = "mark";
    li.append(m);
  }
  m.dataset.ack = state;
  m.textContent = label;
  m.title = title || "";
}

function problem(msg) {
  lastProblem = msg || "";
  const p = $("problem");
  p.hidden = !msg;
  p.textContent = msg || "";
}

function notice(msg) {
  $("notice").textContent = msg || "";
}

function renderPresence() {
  const list = $("presence"), count = $("presence-count"), here = $("room-here");
  list.replaceChildren();
  const st = rooms.get(active);
  $("presence-head").hidden = !active;
  $("presence-room").textContent = active ? "In #" + active : "";
  const p = st && st.presence;
  if (!p) {
    count.textContent = "";
    here.textContent = "";
    const note = document.createElement("li");
    note.className = "note";
    note.textContent = !active ? "" : !connected() ? "not connected" : "…";
    if (note.textContent) list.append(note);
    return;
  }
  const names = [...p.users.keys()].sort((a, b) => (b === me) - (a === me) || a.localeCompare(b));
  for (const user of names) {
    const li = document.createElement("li");
    li.dataset.user = user;
    const n = p.users.get(user);
    li.textContent = user + (user === me ? " (you)" : "") + (n > 1 ? " ×" + n : "");
    li.title = user + ": " + n + (n === 1 ? " connection" : " connections");
    list.append(li);
  }
  if (p.anonymous > 0) {
    const li = document.createElement("li");
    li.className = "anonymous";
    li.textContent = p.anonymous + " anonymous";
    list.append(li);
  }
  const summary = names.length + " here" + (p.truncated ? "+" : "");
  count.textContent = summary;
  here.textContent = summary + (p.anonymous ? ", " + p.anonymous + " anonymous" : "");
}

// ---- the connection ------------------------------------------------------
// scfws-client keeps the connection: it reconnects with backoff, rejoins
// the rooms, and delivers each message once, in order, with what a drop
// made it miss. The page shows what happens, and reloads a room's last
// messages when the client says they could not all be recovered.

let client = null;        // the Client for the current name
let wanted = true;        // connect, and reconnect after a drop
let attempt = 0;          // reconnect attempts in this outage
let why = "";             // how the last connection ended
let startedAt = 0;        // when the current attempt began
let outage = null;        // the outage: {why, lines (room -> li)}, its lines updated in place
let lastProblem = "";
const sentHere = new Set(); // ids of the messages this tab sent

const connected = () => !!client && client.state === "connected";
const errorText = (err) => (err && err.message ? String(err.message) : "refused");

function setState(state, label) {
  $("state").dataset.state = state;
  $("state").dataset.attempt = String(attempt);
  $("state-text").textContent = label || state;
  toggle.textContent = wanted ? "Disconnect" : "Connect";
  updateSend();
}

function updateSend() {
  const st = rooms.get(active);
  send.disabled = !(connected() && st && st.joined);
}

// A token for the name, from the emulator (signed with the session's
// AUTH_SECRET), with the roles to join rooms, talk in them and message
// users, or those the page's ?roles= names. null: no tokens here,
// connect anonymously (DEFAULT_ROLES alone decides what it may do). A
// name the emulator refuses stops the client (Unauthorized).
async function token(name) {
  if (!cfg.tokens) return null;
  const roles = new URLSearchParams(location.search).get("roles");
  const q = "sub=" + encodeURIComponent(name) + (roles === null ? "" : "&roles=" + encodeURIComponent(roles));
  const r = await fetch("/_scfws/token?" + q, { cache: "no-store" });
  if (r.status === 404) return null;
  const body = await r.json().catch(() => ({}));
  if (r.ok && typeof body.token === "string") return body.token;
  const msg = String(body.errMsg || "HTTP " + r.status);
  if (r.status === 400) throw new Unauthorized("No token for the name “" + name + "”: " + msg + ". Pick another name.");
  throw new Error(msg);
}

function newClient() {
  // The page's own query (say ?fail-push=500) goes to the WebSocket URL.
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + cfg.path + location.search;
  const c = new Client(url, {
    getToken: () => token(me),
    // HEARTBEAT_MESSAGE (or a ping) every third of the idle timeout.
    heartbeat: { interval: Math.max(1000, cfg.heartbeatIntervalMs), message: cfg.heartbeatMessage },
    userStream: cfg.tokens,
  });
  // Events of a client the page replaced (a new name) are ignored.
  const on = (event, fn) => c.on(event, (e) => { if (client === c) fn(e); });
  on("connecting", onConnecting);
  on("connected", onConnected);
  on("disconnected", onDisconnected);
  on("error", ({ error }) => onError(error));
  on("message", onMessage);
  on("presence", onPresence);
  on("system", onSystem);
  on("recovery", onRecovery);
  return c;
}

// start connects under the current name and joins the page's rooms.
function start() {
  client = newClient();
  client.connect().catch(() => { /* the events say why */ });
  for (const room of rooms.keys()) joinRoom(room);
}

// restart connects afresh (a new name, or Connect after Disconnect).
function restart() {
  const old = client;
  client = null;
  if (old) old.disconnect();
  forget();
  outage = null;
  attempt = 0;
  wanted = true;
  problem("");
  start();
}

function disconnect() {
  wanted = false;
  outage = null;
  attempt = 0;
  client.disconnect();
  everywhere("disconnected");
}

// onConnecting: the first attempt, or the next one of an outage after a
// wait. One line per outage, in each room, updated in place; a connection
// that never got an answer (say, every push to it fails) is the same
// outage.
function onConnecting(e) {
  attempt = e.attempt;
  startedAt = Date.now() + e.delay;
  if (e.attempt === 0) {
    setState("connecting", "connecting…");
    return;
  }
  const msg = why + "; retrying in " + (e.delay / 1000).toFixed(1) + "s (attempt " + e.attempt + ")";
  if (!outage) outage = { why, lines: new Map() };
  for (const room of rooms.size ? rooms.keys() : [""]) {
    const li = outage.lines.get(room);
    if (li && li.isConnected) li.textContent = msg;
    else outage.lines.set(room, systemLine(room, msg, "retry"));
  }
  setState("reconnecting", "reconnecting in " + Math.round(e.delay / 1000) + "s");
}

// onConnected: the function answered, every room is rejoined.
function onConnected(e) {
  if (outage) {
    const msg = outage.why + "; reconnected after " + e.attempt + (e.attempt === 1 ? " attempt" : " attempts");
    for (const li of outage.lines.values()) li.textContent = msg;
    outage = null;
  } else {
    everywhere("connected as " + me);
  }
  attempt = 0;
  problem("");
  setState("connected");
  renderPresence();
}

function onDisconnected(e) {
  forget();
  why = e.opened ? "connection closed (" + e.code + (e.reason ? " " + e.reason : "") + ")" : "could not connect";
  if (!e.opened && !e.error) explainFailure(startedAt);
  if (e.willReconnect) return;
  wanted = false;
  outage = null;
  setState("disconnected");
}

function onError(err) {
  switch (err.name) {
    case "Unauthorized":
      problem(err.message);
      nameInput.focus();
      return;
    case "Unsupported":
      problem("The function did not accept scfws.v1: is it an older build? (" + err.message + ")");
      return;
    case "Unreachable":
      problem((lastProblem ? lastProblem + " " : "") + "Stopped: " + err.message + "; Connect tries again.");
      return;
  }
  if (err.cause) problem("The emulator is not reachable: is scfws local still running?"); // getToken failed
}

// forget drops what the connection that ended had: its rooms' membership
// and presence.
function forget() {
  for (const st of rooms.values()) {
    st.presence = null;
    st.pendingEvents = null;
    setJoined(st, false);
  }
  renderPresence();
  updateSend();
}

function status() {
  return fetch("/_scfws/status", { cache: "no-store" }).then((r) => r.ok ? r.json() : Promise.reject(new Error("HTTP " + r.status)));
}

// A refused handshake's reason is invisible to the page (browsers do not
// expose the answer), so ask the emulator what it refused, and when.
function explainFailure(since) {
  status().then((s) => {
    if (connected()) return; // connected meanwhile
    const r = s.lastRefused;
    if (r && Date.parse(r.time) >= since - 2000) {
      const who = r.status === 403 ? "The function refused the connection: errNo " + r.errNo + ": " :
        r.status === 502 ? "The register invoke failed: " : "The gateway refused the connection (" + r.status + "): ";
      problem(who + r.errMsg + " — the terminal running scfws local shows the function's log.");
    } else {
      problem("Could not connect; the terminal running scfws local may say why.");
    }
  }).catch(() => problem("The emulator is not reachable: is scfws local still running?"));
}

// ---- rooms over the connection --------------------------------------------

function joinRoom(room) {
  const st = rooms.get(room);
  if (!st || !client) return;
  st.presence = null;
  st.pendingEvents = [];
  client.join(room).then((r) => {
    if (rooms.get(room) !== st) return; // left meanwhile
    setJoined(st, true);
    updateSend();
    loadHistory(room, st, r.offset, false);
    listRoom(room, st);
  }, (err) => {
    if (rooms.get(room) !== st || err.name === "Disconnected" || err.name === "Canceled") return;
    notice("Could not join #" + room + ": " + errorText(err));
    dropRoom(room);
  });
}

// onRecovery: after a reconnect, each room is back (its messages replayed,
// or, recovered false, some may be missing: its last messages are loaded
// again); during a connection, a room whose gap could not be filled.
function onRecovery(r) {
  const st = r.group !== undefined ? rooms.get(r.group) : null;
  if (!st) return; // this user's direct messages: the client resumed them
  if (r.error) {
    notice("Could not rejoin #" + r.group + ": " + errorText(r.error));
    dropRoom(r.group);
    return;
  }
  if (!st.joined) {
    setJoined(st, true);
    st.pendingEvents = [];
    listRoom(r.group, st);
    updateSend();
  }
  if (!r.recovered) loadHistory(r.group, st, r.offset, true);
}

// loadHistory shows a room's last 50 messages up to offset (those it shows
// already are not shown twice).
function loadHistory(room, st, offset, again) {
  if (!offset) return; // the room had no message
  client.history(room, { limit: 50, before: offset + 1 }).then((a) => {
    if (rooms.get(room) !== st) return;
    for (const m of a.messages) onMessage(m);
    if (again && a.epoch) systemLine(room, "reloaded the last messages: some sent while you were away may be missing", "alert");
  }, () => { /* the connection went: the rejoin reloads it */ });
}

function listRoom(room, st) {
  client.listGroup(room).then((a) => {
    if (rooms.get(room) !== st) return;
    const events = st.pendingEvents || [];
    st.pendingEvents = null;
    const users = new Map();
    for (const u of a.users || []) users.set(String(u.userId), Number(u.connections) || 1);
    st.presence = { users, anonymous: Number(a.anonymous) || 0, truncated: !!a.truncated };
    for (const ev of events) applyPresence(st, ev);
    if (room === active) renderPresence();
  }, (err) => {
    if (rooms.get(room) !== st || err.name === "Disconnected") return;
    st.pendingEvents = null;
    systemLine(room, "could not list who is here: " + errorText(err), "alert");
  });
}

function applyPresence(st, ev) {
  if (ev.event === "joined") {
    if (!st.presence.users.has(ev.userId)) st.presence.users.set(ev.userId, 1);
  } else {
    st.presence.users.delete(ev.userId);
  }
}

function joinNew(raw) {
  const room = raw.trim();
  const why = nameProblem(room);
  if (why) { notice("A room name " + why + "."); return false; }
  notice("");
  const known = rooms.has(room);
  addRoom(room);
  select(room);
  if (!known && client && client.state !== "disconnected") joinRoom(room);
  return true;
}

function leaveRoom(room) {
  if (!rooms.has(room)) return;
  if (client && client.state !== "disconnected") {
    client.leave(room).catch((err) => notice("Could not leave #" + room + ": " + errorText(err)));
  }
  dropRoom(room);
  const focusTo = $("rooms").querySelector("li.active .room") || $("join-room");
  focusTo.focus();
}

function dropRoom(room) {
  const st = rooms.get(room);
  if (!st) return;
  const i = [...rooms.keys()].indexOf(room);
  rooms.delete(room);
  st.item.remove();
  st.log.remove();
  if (active === room) {
    const rest = [...rooms.keys()];
    select(rest.length ? rest[Math.min(i, rest.length - 1)] : "");
  }
  saveRooms();
}

// ---- messages --------------------------------------------------------------

// What a message's data says, as text (scfws-client decoded it: binary
// data are bytes).
function display(m) {
  switch (m.dataType) {
    case "json": return JSON.stringify(m.data);
    case "binary": return "[" + (m.data && m.data.length) + " bytes of binary data]";
    default: return typeof m.data === "string" ? m.data : JSON.stringify(m.data);
  }
}

function onMessage(m) {
  const group = typeof m.group === "string" ? m.group : "";
  const mine = rooms.get(group);
  // A room's last messages (history) and its live ones may overlap.
  if (mine && m.id && [...mine.log.querySelectorAll("li.msg")].some((li) => li.dataset.id === m.id)) return;
  if (mine && adopt(mine, m)) return;
  const room = group && rooms.has(group) ? group : active;
  const where = group && group !== room ? " in #" + group : ""; // a room the page has not joined (a backend's addToGroup)
  const from = typeof m.fromUserId === "string" ? m.fromUserId : "";
  const body = display(m);
  if (m.from === "server") {
    message(room, "server", group ? "to #" + group + " · " : "", body, m);
  } else if (m.from === "user") {
    message(room, "direct", (from || "anonymous") + " → you · ", body, m);
  } else if (from && from === me) {
    // Sent by this user in another tab, or earlier (this tab sends with
    // noEcho and shows its own messages itself).
    message(room, "mine", "you" + (sentHere.has(m.id) ? "" : ", another tab") + where + " · ", body, m);
  } else {
    message(room, "theirs", (from || "anonymous") + where + " · ", body, m);
  }
}

// adopt finds this tab's own message that lost its ack to a drop, when
// the recovery brings it: it is marked, not shown twice.
function adopt(st, m) {
  if (m.from !== "group" || m.fromUserId !== me || typeof m.offset !== "number") return false;
  for (const mark of st.log.querySelectorAll('li.msg.mine .mark[data-ack="lost"]')) {
    const item = mark.parentElement;
    if (item.querySelector(".bubble").textContent === display(m)) {
      item.dataset.id = m.id;
      item.dataset.epoch = m.epoch;
      item.dataset.offset = String(m.offset);
      setMark(item, "ok", "✓", "delivered (confirmed after the reconnect)");
      return true;
    }
  }
  return false;
}

function onPresence(m) {
  const st = rooms.get(m.group);
  if (!st || typeof m.userId !== "string") return;
  if (st.pendingEvents) st.pendingEvents.push(m);
  else if (st.presence) applyPresence(st, m);
  systemLine(m.group, m.userId + (m.event === "joined" ? " joined" : " left"), "presence");
  if (m.group === active) renderPresence();
}

// onSystem: the server's disconnected event (a backend closed this
// connection with a reason): the client does not reconnect.
function onSystem(m) {
  if (m.event === "disconnected") everywhere("The server disconnected you" + (m.message ? ": " + m.message : ""), "alert");
}

// ---- controls ------------------------------------------------------------

$("form").addEventListener("submit", (e) => {
  e.preventDefault();
  const t = text.value.trim();
  const room = active, st = rooms.get(room);
  if (!t || !connected() || !st || !st.joined) return;
  // noEcho: this tab shows its message itself, and marks it when the
  // function acknowledges it.
  const li = message(room, "mine", "you · ", t);
  setMark(li, "pending", "sending…");
  client.sendToGroup(room, t, { noEcho: true }).then((a) => {
    setMark(li, "ok", "✓", "delivered to " + a.delivered + (a.delivered === 1 ? " other connection" : " other connections"));
    sentHere.add(a.id);
    li.dataset.id = a.id;
    // Its place in the room's stream: no push tells this tab (noEcho).
    if (typeof a.offset === "number") {
      li.dataset.epoch = a.epoch;
      li.dataset.offset = String(a.offset);
    }
  }, (err) => {
    if (err.name === "Disconnected" && err.sent) setMark(li, "lost", "? not confirmed: the connection closed first");
    else setMark(li, "failed", "✕ " + errorText(err));
  });
  text.value = "";
  grow();
  text.focus();
});
function grow() {
  text.style.height = "auto";
  text.style.height = Math.min(text.scrollHeight + 2, 140) + "px";
}
text.addEventListener("input", grow);
text.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    $("form").requestSubmit();
  }
});
document.addEventListener("keydown", (e) => {
  if (e.altKey && (e.key === "ArrowUp" || e.key === "ArrowDown")) {
    e.preventDefault();
    step(e.key === "ArrowUp" ? -1 : 1);
    text.focus();
  }
});

$("join-form").addEventListener("submit", (e) => {
  e.preventDefault();
  if (joinNew($("join-room").value)) {
    $("join-room").value = "";
    text.focus();
  }
});

// A new name reconnects with a token for it.
function rename() {
  const n = nameInput.value.trim();
  const why = nameProblem(n);
  if (why) {
    problem("A name " + why + ".");
    nameInput.value = me;
    return;
  }
  nameInput.value = n;
  if (n === me) return;
  me = n;
  store(sessionStorage, "scfws-name", me);
  store(localStorage, "scfws-name", me);
  if (location.hash) history.replaceState(null, "", "#" + encodeURIComponent(me));
  problem("");
  restart();
}
nameInput.addEventListener("change", rename);
nameInput.addEventListener("keydown", (e) => {
  if (e.key === "Enter") { e.preventDefault(); rename(); text.focus(); }
  if (e.key === "Escape") { nameInput.value = me; text.focus(); }
});

toggle.addEventListener("click", () => {
  if (wanted) disconnect();
  else restart();
});

// ---- start ---------------------------------------------------------------

let saved = null;
try { saved = JSON.parse(load(sessionStorage, "scfws-rooms")); } catch (_) { /* none */ }
const initial = Array.isArray(saved) ? saved.filter((r) => typeof r === "string" && !nameProblem(r)) : [DEFAULT_ROOM];
for (const room of initial) addRoom(room);
const was = load(sessionStorage, "scfws-room");
select(was !== null && rooms.has(was) ? was : initial[0] || "");

fetch("/_scfws/config").then((r) => r.ok ? r.json() : {}).catch(() => ({}))
  .then((c) => { cfg = Object.assign(cfg, c); $("dashboard").hidden = !cfg.dashboard; start(); });
