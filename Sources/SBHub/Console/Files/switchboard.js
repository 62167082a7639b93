// Switchboard JavaScript client: an ES module with no dependencies, served by every instance
// at /switchboard.js.
//
//   import { Switchboard } from '/switchboard.js';
//   const hub = new Switchboard({ apiKey: 'secret' });          // or { token }, or { getToken }
//   hub.subscribe('session-1', { onEvent: (e) => console.log(e.seq, e.payload) });
//   await hub.sendCommand('session-1', 'pause');
//   hub.subscribe('session-2', { onPresence: (clients) => console.log(clients.length, 'watching') });
//   const { count, clients } = await hub.presence('session-2');
//
// One WebSocket carries every subscription. When it drops, the client reconnects with jittered
// exponential backoff and resubscribes each session with the last seq it delivered (and the
// stream's epoch), so events arrive exactly once and in seq order across reconnects.

const DEFAULTS = { minDelay: 250, maxDelay: 10000 };

export class Switchboard {
  /**
   * @param {object} [options]
   * @param {string} [options.url]      the hub's base URL (default: this page's origin)
   * @param {string} [options.apiKey]   the API key, when the hub has one
   * @param {string} [options.token]    a scoped token (POST /api/tokens)
   * @param {() => Promise<string>|string} [options.getToken]  called before each connect and
   *        when the hub says the token is expiring; the client renews its connection with it
   * @param {(status: string, detail?: object) => void} [options.onStatus]
   *        'connecting' | 'open' | 'reconnecting' | 'closed'
   * @param {number} [options.minDelay]  first reconnect delay, ms (doubles up to maxDelay)
   * @param {number} [options.maxDelay]
   */
  constructor(options = {}) {
    this.options = { ...DEFAULTS, ...options };
    this.base = (options.url || globalThis.location?.origin || '').replace(/\/$/, '');
    this.token = options.token || null;
    this.sessions = new Map();  // id -> { lastSeq, epoch, handlers, confirmed }
    this.listeners = new Map(); // type -> Set(fn)
    this.socket = null;
    this.attempt = 0;
    this.closedByUser = false;
    this.timer = null;
    this.status = 'idle';
    this.clientId = null;
  }

  /** Subscribes to a session. `lastEventId`/`epoch` resume from a known position.
   *  Handlers: onEvent(event, info), onCommand(msg), onInput(msg), onReset({epoch}),
   *  onConfirmed({epoch, lastSeq, oldestSeq, recovered}), and onPresence(clients, change):
   *  with it the subscription asks for the session's presence (`presence: true`) and the
   *  handler gets every client present ({clientId, instanceId, since, info}, oldest first)
   *  after the list arrives and after each join, leave or batch (`change` is the message).
   *  Returns { unsubscribe }. */
  subscribe(sessionId, handlers = {}) {
    const state = this.sessions.get(sessionId) || {
      lastSeq: handlers.lastEventId ?? null, epoch: handlers.epoch ?? null, handlers: {}, confirmed: null,
      presence: new Map(), presenceCount: 0, presencePending: null,
    };
    state.handlers = handlers;
    this.sessions.set(sessionId, state);
    if (this.socket && this.socket.readyState === 1 && this.clientId) this.#sendSubscribe(sessionId, state);
    else this.#connect();
    return { unsubscribe: () => this.unsubscribe(sessionId) };
  }

  unsubscribe(sessionId) {
    if (!this.sessions.delete(sessionId)) return;
    this.#send({ type: 'unsubscribe', sessionId });
  }

  /** Listens to every message of a type ('event', 'command', 'input', 'session_deleted',
   *  'error', 'subscription_confirmed', 'status'…). Returns a function that removes it. */
  on(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(fn);
    return () => this.listeners.get(type)?.delete(fn);
  }

  /** Who is subscribed to a session now, on every instance (REST, needs `read` with a token):
   *  resolves to {sessionId, count, clients} (at most 1,000 clients listed; count is exact). */
  presence(sessionId) {
    return this.request('GET', `/api/sessions/${encodeURIComponent(sessionId)}/presence`);
  }

  /** The presence a subscription with onPresence follows: {count, clients}, or null. */
  presenceOf(sessionId) {
    const state = this.sessions.get(sessionId);
    if (!state?.handlers.onPresence) return null;
    return { count: state.presenceCount, clients: this.#presenceList(state) };
  }

  /** The last seq delivered for a session (what a resume starts after). */
  position(sessionId) {
    const s = this.sessions.get(sessionId);
    return s ? { lastSeq: s.lastSeq, epoch: s.epoch } : null;
  }

  /** Sends a command (pause, resume, cancel, abort, retry, skip) over REST. */
  sendCommand(sessionId, type, payload) {
    return this.request('POST', `/api/sessions/${encodeURIComponent(sessionId)}/commands`, { type, payload });
  }

  /** Queues input for a session over REST. */
  sendInput(sessionId, input, prompt) {
    return this.request('POST', `/api/sessions/${encodeURIComponent(sessionId)}/input`, { input, prompt });
  }

  /** `send('command', id, {type, payload})` or `send('input', id, {input, prompt})`. */
  send(kind, sessionId, body) {
    if (kind === 'command') return this.sendCommand(sessionId, body.type, body.payload);
    if (kind === 'input') return this.sendInput(sessionId, body.input, body.prompt);
    return Promise.reject(new Error(`unknown kind ${kind}`));
  }

  /** A REST call with this client's credential; resolves to the parsed JSON (null for 204),
   *  rejects with an Error carrying `status` and `body` for non-2xx answers. */
  async request(method, path, body) {
    const headers = {};
    const credential = await this.#credential(false);
    if (credential) headers.Authorization = `Bearer ${credential}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const response = await fetch(this.base + path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    const parsed = text ? JSON.parse(text) : null;
    if (!response.ok) {
      const error = new Error(parsed?.error || `${method} ${path}: ${response.status}`);
      error.status = response.status;
      error.body = parsed;
      throw error;
    }
    return parsed;
  }

  /** Drops the connection now; the client reconnects and resumes as after a network loss. */
  reconnect() {
    if (this.socket) this.socket.close(4000, 'reconnect');
  }

  close() {
    this.closedByUser = true;
    clearTimeout(this.timer);
    if (this.socket) this.socket.close(1000, 'bye');
    this.#setStatus('closed');
  }

  // MARK: internals

  async #credential(fresh) {
    if (this.options.apiKey) return this.options.apiKey;
    if (this.options.getToken && (fresh || !this.token)) this.token = await this.options.getToken();
    return this.token;
  }

  async #connect() {
    if (this.closedByUser || this.socket || this.connecting) return;
    this.connecting = true;
    this.#setStatus(this.attempt === 0 ? 'connecting' : 'reconnecting', { attempt: this.attempt });
    let url = this.base.replace(/^http/, 'ws') + '/ws';
    try {
      if (this.options.apiKey) url += `?apiKey=${encodeURIComponent(this.options.apiKey)}`;
      else {
        const token = await this.#credential(this.attempt > 0 && !!this.options.getToken);
        if (token) url += `?token=${encodeURIComponent(token)}`;
      }
    } catch (error) {
      this.connecting = false;
      this.#emit('error', { message: `getToken failed: ${error.message}` });
      this.#scheduleReconnect();
      return;
    }
    this.connecting = false;
    if (this.closedByUser) return;
    const socket = new WebSocket(url);
    this.socket = socket;
    this.clientId = null;
    socket.onmessage = (e) => this.#receive(socket, e.data);
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.clientId = null;
      for (const state of this.sessions.values()) {
        state.confirmed = null;
        state.presence = new Map();  // the resubscribe brings the list again
        state.presenceCount = 0;
      }
      if (!this.closedByUser) this.#scheduleReconnect();
    };
    socket.onerror = () => {};  // onclose follows
  }

  #scheduleReconnect() {
    const { minDelay, maxDelay } = this.options;
    const ceiling = Math.min(maxDelay, minDelay * 2 ** Math.min(this.attempt, 16));
    const delay = ceiling / 2 + Math.random() * ceiling / 2;  // jitter: half fixed, half random
    this.attempt += 1;
    this.#setStatus('reconnecting', { attempt: this.attempt, delay: Math.round(delay) });
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.#connect(), delay);
  }

  #receive(socket, data) {
    if (socket !== this.socket) return;
    let m;
    try { m = JSON.parse(data); } catch { return; }
    switch (m.type) {
      case 'subscription_confirmed':
        if (!m.sessionId) {
          this.clientId = m.payload?.clientId;
          this.#setStatus('open', { instanceId: m.payload?.instanceId });
          for (const [id, state] of this.sessions) this.#sendSubscribe(id, state);
        } else {
          this.#confirmed(m.sessionId, m.payload || {});
        }
        break;
      case 'event':
        this.#event(m);
        break;
      case 'session_deleted': {
        const state = this.sessions.get(m.sessionId);
        if (state) {
          state.epoch = m.epoch ?? m.payload?.epoch ?? null;
          state.lastSeq = 0;
          state.handlers.onReset?.({ epoch: state.epoch });
        }
        this.#emit('session_deleted', m);
        break;
      }
      case 'command':
        this.sessions.get(m.sessionId)?.handlers.onCommand?.(m);
        this.#emit('command', m);
        break;
      case 'input':
        this.sessions.get(m.sessionId)?.handlers.onInput?.(m);
        this.#emit('input', m);
        break;
      case 'token_expiring':
        this.#refresh();
        break;
      case 'presence':
      case 'presence_join':
      case 'presence_leave':
      case 'presence_diff':
        this.#presence(m);
        this.#emit(m.type, m);
        break;
      default:
        this.#emit(m.type, m);
    }
  }

  #confirmed(sessionId, payload) {
    const state = this.sessions.get(sessionId);
    if (!state) return;
    this.attempt = 0;  // a working connection: the next drop starts the backoff again
    const info = { epoch: payload.epoch, lastSeq: payload.lastSeq, oldestSeq: payload.oldestSeq, recovered: payload.recovered };
    if (state.epoch && payload.epoch && state.epoch !== payload.epoch) {
      // Another stream than the one we followed: the server replays it from its start.
      state.lastSeq = 0;
      state.handlers.onReset?.({ epoch: payload.epoch });
    }
    state.epoch = payload.epoch ?? state.epoch;
    if (state.lastSeq === null) state.lastSeq = payload.lastSeq ?? 0;
    else if (payload.recovered === false && (state.lastSeq > (payload.lastSeq ?? 0))) state.lastSeq = 0;
    state.confirmed = info;
    state.handlers.onConfirmed?.(info);
    this.#emit('subscription_confirmed', { sessionId, ...info });
  }

  #event(m) {
    const state = this.sessions.get(m.sessionId);
    if (!state) return;
    if (typeof m.seq === 'number') {
      if (state.lastSeq !== null && m.seq <= state.lastSeq) return;  // already delivered
      state.lastSeq = m.seq;
    }
    state.handlers.onEvent?.(m, { epoch: state.epoch });
    this.#emit('event', m);
  }

  #sendSubscribe(sessionId, state) {
    const message = { type: 'subscribe', sessionId };
    if (state.lastSeq !== null) message.lastEventId = state.lastSeq;
    if (state.epoch) message.epoch = state.epoch;
    if (state.handlers.onPresence) {
      message.presence = true;
      state.presencePending = { joins: new Map(), leaves: new Set() };
    }
    this.#send(message);
  }

  /** Keeps a watched session's presence: the list replaces it (with the changes that arrived
   *  while it was read applied again on top), joins and leaves change it, a batch applies its
   *  leaves then its joins and, when it only counted some, asks for the list again. */
  #presence(m) {
    const state = this.sessions.get(m.sessionId);
    if (!state?.handlers.onPresence) return;
    const p = m.payload || {};
    const pending = state.presencePending;
    const join = (entry) => { state.presence.set(entry.clientId, entry); pending?.joins.set(entry.clientId, entry); pending?.leaves.delete(entry.clientId); };
    const leave = (entry) => { state.presence.delete(entry.clientId); pending?.joins.delete(entry.clientId); pending?.leaves.add(entry.clientId); };
    if (m.type === 'presence') {
      state.presence = new Map((p.clients || []).map((c) => [c.clientId, c]));
      if (pending) {
        for (const id of pending.leaves) state.presence.delete(id);
        for (const [id, entry] of pending.joins) state.presence.set(id, entry);
      }
      state.presencePending = null;
      state.presenceCount = Math.max(p.count ?? 0, state.presence.size);
    } else if (m.type === 'presence_join') {
      if (!state.presence.has(p.clientId)) state.presenceCount += 1;
      join(p);
    } else if (m.type === 'presence_leave') {
      if (state.presence.has(p.clientId) || state.presenceCount > state.presence.size) state.presenceCount -= 1;
      leave(p);
    } else {
      for (const entry of p.leaves || []) leave(entry);
      for (const entry of p.joins || []) join(entry);
      if ((p.omittedJoins || 0) + (p.omittedLeaves || 0) > 0) {
        state.presencePending = { joins: new Map(), leaves: new Set() };
        this.#send({ type: 'presence', sessionId: m.sessionId });
      }
      state.presenceCount = Math.max(state.presenceCount + (p.joins || []).length - (p.leaves || []).length, state.presence.size);
    }
    state.handlers.onPresence(this.#presenceList(state), m);
  }

  #presenceList(state) {
    return [...state.presence.values()].sort((a, b) => (a.since < b.since ? -1 : a.since > b.since ? 1 : a.clientId < b.clientId ? -1 : 1));
  }

  async #refresh() {
    if (!this.options.getToken) return;
    try {
      const token = await this.#credential(true);
      this.#send({ type: 'refresh', token });
    } catch (error) {
      this.#emit('error', { message: `token refresh failed: ${error.message}` });
    }
  }

  #send(message) {
    if (this.socket && this.socket.readyState === 1) this.socket.send(JSON.stringify(message));
  }

  #setStatus(status, detail = {}) {
    this.status = status;
    this.options.onStatus?.(status, detail);
    this.#emit('status', { status, ...detail });
  }

  #emit(type, message) {
    for (const fn of this.listeners.get(type) || []) {
      try { fn(message); } catch (error) { console.error(error); }
    }
  }
}

export default Switchboard;
