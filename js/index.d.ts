// Types of scfws-client (index.js). README.md describes the behaviour.

export type State = "disconnected" | "connecting" | "connected";
export type DataType = "text" | "json" | "binary";

/** Where a stream is: the offset of its last message, and its epoch ("" for a stream without messages). */
export interface Position {
  offset: number;
  epoch: string;
}

/** A message, its data decoded by dataType: text a string, json a value, binary bytes. */
export interface Message {
  from: "group" | "user" | "server";
  /** The group, for a message to a group. */
  group?: string;
  /** The sender's user ID; absent for anonymous senders and the server. */
  fromUserId?: string;
  dataType: DataType;
  data: unknown;
  /** Given once when the function accepted it; the same on every push of it. */
  id: string;
  /** Its place in its stream, with history on. */
  offset?: number;
  epoch?: string;
}

/** The least of a WebSocket this library uses: the browser's, or ws's in Node. */
export interface WebSocketLike {
  readonly protocol: string;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: any) => void) | null;
  onmessage: ((event: any) => void) | null;
  onclose: ((event: any) => void) | null;
  onerror: ((event: any) => void) | null;
}

export interface ClientOptions {
  /** Called before every (re)connect; null or "" connects anonymously. Throw Unauthorized to stop. */
  getToken?: () => string | null | undefined | Promise<string | null | undefined>;
  /** The WebSocket class: required in Node 20 (pass ws's), the global one elsewhere. */
  WebSocket?: new (url: string, protocols: string[]) => WebSocketLike;
  /** Backoff with full jitter (ms); false: never reconnect. Defaults 500, 20000, 20. */
  reconnect?: false | { minDelay?: number; maxDelay?: number; maxFailures?: number };
  /** How long a request waits for its ack once sent (ms, default 10000). */
  ackTimeout?: number;
  /** Requests made while reconnecting that may wait (default 100); past it they reject at once. */
  queueSize?: number;
  /** Keeps the connection alive (default every 60000 ms, a ping whose ack is awaited); false: none. */
  heartbeat?: false | { interval?: number; message?: string };
  /** How long a gap in a stream may stay before it is asked for (ms, default 1000). */
  gapDelay?: number;
  /** Follow and resume the user's own stream when connected with a token (default true). */
  userStream?: boolean;
}

export interface JoinResult extends Position {
  group: string;
  /** After a reconnect: whether everything missed was replayed. */
  recovered?: boolean;
}

export interface SendResult {
  id: string;
  delivered: number;
  /** sendToGroup with history on: the message's place in the group's stream. */
  offset?: number;
  epoch?: string;
}

export interface GroupList {
  group: string;
  users: { userId: string; connections: number }[];
  anonymous: number;
  truncated: boolean;
}

export interface History extends Position {
  group?: string;
  /** Oldest first. */
  messages: Message[];
}

export interface ConnectingEvent {
  /** 0 for connect(), then 1, 2, ... in an outage. */
  attempt: number;
  /** How long it waits before this attempt (ms). */
  delay: number;
  code?: number;
  reason?: string;
}

export interface ConnectedEvent {
  /** Reconnect attempts this outage took (0 for the first connect). */
  attempt: number;
}

export interface DisconnectedEvent {
  code: number;
  reason: string;
  /** The WebSocket had opened (false: the handshake failed). */
  opened: boolean;
  willReconnect: boolean;
  /** The server's reason, when it disconnected the client (then it does not reconnect). */
  message?: string;
  /** Node (ws) only: a refused handshake's HTTP status and X-Scfws-Errno. */
  status?: number;
  errNo?: number;
  /** Why the client stopped. */
  error?: ScfwsError;
}

export interface PresenceEvent {
  event: "joined" | "left";
  group: string;
  userId: string;
}

export interface SystemEvent {
  event: string;
  message?: string;
  [key: string]: unknown;
}

export interface RecoveryEvent extends Position {
  /** The group's stream, or (user: true) the user's. */
  group?: string;
  user?: true;
  /** false: messages may be missing; reload the stream (history). */
  recovered: boolean;
  /** A rejoin refused: the group is no longer joined. */
  error?: ScfwsError;
}

export interface ClientEvents {
  message: Message;
  presence: PresenceEvent;
  system: SystemEvent;
  connecting: ConnectingEvent;
  connected: ConnectedEvent;
  disconnected: DisconnectedEvent;
  error: { error: ScfwsError };
  recovery: RecoveryEvent;
}

export class Client {
  constructor(url: string, options?: ClientOptions);
  readonly state: State;
  connect(): Promise<void>;
  disconnect(): void;
  join(group: string): Promise<JoinResult>;
  leave(group: string): Promise<void>;
  sendToGroup(group: string, data: unknown, options?: { noEcho?: boolean; dataType?: DataType }): Promise<SendResult>;
  sendToUser(userId: string, data: unknown, options?: { dataType?: DataType }): Promise<SendResult>;
  listGroup(group: string): Promise<GroupList>;
  history(group: string, options?: { limit?: number; before?: number }): Promise<History>;
  userHistory(options?: { limit?: number; before?: number }): Promise<History>;
  ping(): Promise<void>;
  groups(): string[];
  on<K extends keyof ClientEvents>(event: K, listener: (e: ClientEvents[K]) => void): () => void;
  off<K extends keyof ClientEvents>(event: K, listener: (e: ClientEvents[K]) => void): void;
}

export class ScfwsError extends Error {
  constructor(message: string, details?: object);
  /** Disconnected: whether the request had been sent (it may have been carried out). */
  sent?: boolean;
  /** Unauthorized in Node: the function's errNo (401). */
  errNo?: number;
}
export class Forbidden extends ScfwsError {}
export class InvalidMessage extends ScfwsError {}
export class TooLarge extends ScfwsError {}
export class Internal extends ScfwsError {}
export class Timeout extends ScfwsError {}
export class Disconnected extends ScfwsError {}
export class Unauthorized extends ScfwsError {}
