// Live import progress over Socket.IO, as the design's WebSocketClient: its own reconnection with
// exponential backoff (1, 2, 4, 8, 16 s for five attempts, then every 30 s for as long as the page
// is open), rejoining the session after a reconnect (the server then sends its newest state: the
// catch-up), and graceful degradation: whenever the socket is not connected, the joined session is
// followed by polling its HTTP status about once a second, and cancelling goes over HTTP. When the server refuses the browser's
// credential (the handshake's `connect_error`, an `authError` event, a poll answered 401) there is
// nothing to retry: the client stops and reports `signedOut`.
//
// Debug logging, as the design's troubleshooting section says: `localStorage.debug =
// 'socket.io-client:*'` logs the Socket.IO client itself, `'vulnimport:*'` this module, `'*'` both
// (then reload the page).

export const RECONNECT_BASE_DELAY_MS = 1000;
export const MAX_RECONNECT_ATTEMPTS = 5;
export const RETRY_INTERVAL_MS = 30_000;
export const POLL_INTERVAL_MS = 1000;
const ACK_TIMEOUT_MS = 5000;
const LOG_NAMESPACE = 'vulnimport:websocket';

/** The wait before reconnection attempt `attempt` (0 for the first): the base, doubled each time. */
export function reconnectDelay(attempt, base = RECONNECT_BASE_DELAY_MS) {
  return base * 2 ** attempt;
}

/** Every wait of the schedule, in order: [1000, 2000, 4000, 8000, 16000]. */
export function backoffSchedule(attempts = MAX_RECONNECT_ATTEMPTS, base = RECONNECT_BASE_DELAY_MS) {
  return Array.from({ length: attempts }, (_, attempt) => reconnectDelay(attempt, base));
}

/**
 * Whether a connection error is the server refusing the credential (see `Refused` in
 * src/auth/mod.rs) rather than the network or the server being down.
 */
export function isAuthRefusal(message) {
  return /^(sign-in required|the API token (is not valid|has expired)|the session has ended or expired)/i.test(String(message ?? ''));
}

/**
 * Whether `namespace` logs under a `debug`-style setting: names separated by commas or spaces,
 * `*` matching anything, a leading `-` excluding.
 */
export function debugEnabled(namespace, setting) {
  if (typeof setting !== 'string' || setting.trim() === '') {
    return false;
  }
  const toPattern = (name) => new RegExp(`^${name.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);
  let enabled = false;
  for (const name of setting.split(/[\s,]+/).filter(Boolean)) {
    if (name.startsWith('-')) {
      if (toPattern(name.slice(1)).test(namespace)) {
        return false;
      }
    } else if (toPattern(name).test(namespace)) {
      enabled = true;
    }
  }
  return enabled;
}

/**
 * `connectionState` is one of:
 * - `idle`: `connect()` not called yet;
 * - `connecting`: the first connection is being made;
 * - `connected`: live updates over the socket;
 * - `reconnecting`: the socket is down and another attempt is scheduled or under way;
 * - `failed`: the quick attempts are used up (polling, and another attempt every 30 s), or
 *   Socket.IO is not loaded (polling only);
 * - `signedOut`: the server refused the credential: no connection, no polling.
 *
 * Events (`on(name, handler)`): `progress` (a progress event, from the socket or a poll),
 * `importCancelled` (`{ sessionId }`), `statechange` (this client), `signedOut` (the server's
 * reason).
 */
export class WebSocketClient {
  /**
   * `io`: the Socket.IO client factory (the page's global `io`); `api`: `importStatus(id)` and
   * `cancelImport(id)` over HTTP; `storage`: where `debug` is read (localStorage).
   */
  constructor({
    io = globalThis.io, api, storage = globalThis.localStorage, pollInterval = POLL_INTERVAL_MS,
    retryInterval = RETRY_INTERVAL_MS,
  } = {}) {
    this.io = io;
    this.api = api;
    this.storage = storage;
    this.pollInterval = pollInterval;
    this.retryInterval = retryInterval;
    this.socket = null;
    this.connectionState = 'idle';
    this.reconnectAttempts = 0;
    this.maxReconnectAttempts = MAX_RECONNECT_ATTEMPTS;
    this.reconnectTimer = null;
    this.sessionId = null;
    this.polling = false;
    this.pollTimer = null;
    // Whether the last poll got an answer from the server (false: the server cannot be reached).
    this.serverReachable = true;
    this.handlers = new Map();
  }

  /**
   * How updates arrive now: `live` (socket), `polling` (HTTP), `connecting` (not yet known) or
   * `signedOut` (not at all).
   */
  get mode() {
    if (this.connectionState === 'connected') {
      return 'live';
    }
    if (this.connectionState === 'signedOut') {
      return 'signedOut';
    }
    const down = this.connectionState === 'reconnecting' || this.connectionState === 'failed';
    return this.polling || down ? 'polling' : 'connecting';
  }

  on(name, handler) {
    if (!this.handlers.has(name)) {
      this.handlers.set(name, new Set());
    }
    this.handlers.get(name).add(handler);
    return () => this.handlers.get(name).delete(handler);
  }

  /** Opens the socket (or tries again). False when Socket.IO is not available at all. */
  connect() {
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    if (this.connectionState === 'signedOut') {
      return false;
    }
    if (typeof this.io !== 'function') {
      this.log('socket.io-client is not loaded: following imports by polling');
      this.setState('failed');
      this.startPolling();
      return false;
    }
    if (this.reconnectAttempts === 0) {
      this.setState('connecting');
    } else if (this.reconnectAttempts <= this.maxReconnectAttempts) {
      this.setState('reconnecting');
    }
    if (this.socket) {
      this.socket.connect();
      return true;
    }
    // Socket.IO's own reconnection is off: the design's schedule below replaces it.
    this.socket = this.io({ reconnection: false });
    this.socket.on('connect', () => this.onConnect());
    this.socket.on('connect_error', (error) => {
      const message = error?.message ?? String(error);
      if (isAuthRefusal(message)) {
        this.onSignedOut(message);
      } else {
        this.onDown(`could not connect: ${message}`);
      }
    });
    // Sent just before the server disconnects a socket whose session ended or token was revoked.
    this.socket.on('authError', (event) => this.onSignedOut(event?.error ?? 'signed out'));
    this.socket.on('disconnect', (reason) => {
      if (reason !== 'io client disconnect') {
        this.onDown(`disconnected: ${reason}`);
      }
    });
    this.socket.on('progress', (event) => this.deliver('progress', event));
    this.socket.on('importCancelled', (event) => this.deliver('importCancelled', event));
    return true;
  }

  /**
   * Schedules the next connection attempt: on the backoff schedule, then (the quick attempts used
   * up: `failed`, polling) every `retryInterval`.
   */
  attemptReconnect() {
    if (this.reconnectTimer) {
      return;
    }
    let delay;
    if (this.reconnectAttempts >= this.maxReconnectAttempts) {
      delay = this.retryInterval;
      this.log(`no connection after ${this.reconnectAttempts} attempts: polling, next attempt in ${delay} ms`);
      this.setState('failed');
    } else {
      delay = reconnectDelay(this.reconnectAttempts);
      this.log(`reconnecting in ${delay} ms (attempt ${this.reconnectAttempts + 1} of ${this.maxReconnectAttempts})`);
      this.setState('reconnecting');
    }
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.reconnectAttempts += 1;
      this.connect();
      this.emit('statechange', this);
    }, delay);
  }

  /**
   * Follows a session: joins its room when connected (resolving once the server has answered),
   * otherwise polls its status. Resolves with whether the room was joined.
   */
  joinSession(sessionId) {
    if (this.sessionId && this.sessionId !== sessionId) {
      this.leaveSession();
    }
    this.sessionId = sessionId;
    if (this.connectionState === 'connected') {
      return this.join(sessionId);
    }
    this.startPolling();
    return Promise.resolve(false);
  }

  /** Stops following the current session. */
  leaveSession() {
    const sessionId = this.sessionId;
    this.sessionId = null;
    this.stopPolling();
    if (sessionId && this.connectionState === 'connected') {
      this.socket.emit('leaveSession', sessionId);
    }
  }

  /**
   * Asks the server to cancel an import: over the socket when connected, else (or when the socket
   * does not answer) over HTTP. Resolves with `{ ok, error? }`; the import has stopped only when
   * `importCancelled` arrives.
   */
  async cancelImport(sessionId) {
    if (this.connectionState === 'connected') {
      try {
        const answer = await this.socket.timeout(ACK_TIMEOUT_MS).emitWithAck('cancelImport', sessionId);
        this.log('cancelImport answered', answer);
        return { ok: Boolean(answer?.ok), error: answer?.error };
      } catch (error) {
        this.log(`no answer to cancelImport over the socket (${error.message}); trying HTTP`);
      }
    }
    try {
      await this.api.cancelImport(sessionId);
      return { ok: true };
    } catch (error) {
      return { ok: false, error: error.message };
    }
  }

  onConnect() {
    this.log('connected', this.socket.id);
    this.reconnectAttempts = 0;
    this.setState('connected');
    this.setReachable(true);
    this.stopPolling();
    if (this.sessionId) {
      this.join(this.sessionId);
    }
  }

  onDown(reason) {
    this.log(reason);
    if (this.connectionState === 'signedOut') {
      return;
    }
    if (this.connectionState !== 'failed') {
      this.setState('reconnecting');
    }
    this.startPolling();
    this.attemptReconnect();
  }

  /** The credential is refused: stops reconnecting and polling, then reports `signedOut`. */
  onSignedOut(reason) {
    if (this.connectionState === 'signedOut') {
      return;
    }
    this.log(`signed out: ${reason}`);
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.stopPolling();
    this.setState('signedOut');
    this.socket?.disconnect();
    this.emit('signedOut', reason);
  }

  join(sessionId) {
    return new Promise((resolve) => {
      this.socket.timeout(ACK_TIMEOUT_MS).emit('joinSession', sessionId, (error, answer) => {
        if (error || !answer?.ok) {
          this.log('joinSession failed; polling instead', error?.message ?? answer?.error);
          this.startPolling();
          resolve(false);
          return;
        }
        this.log('joined session', sessionId);
        resolve(true);
      });
    });
  }

  startPolling() {
    if (this.polling || !this.sessionId || this.connectionState === 'signedOut') {
      return;
    }
    this.polling = true;
    this.log('polling', this.sessionId);
    this.emit('statechange', this);
    const poll = async () => {
      const sessionId = this.sessionId;
      if (!this.polling || !sessionId) {
        return;
      }
      try {
        const status = await this.api.importStatus(sessionId);
        this.setReachable(true);
        if (this.polling && sessionId === this.sessionId && this.deliverStatus(status)) {
          this.stopPolling();
          return;
        }
      } catch (error) {
        if (error.status === 401) {
          this.onSignedOut(error.message);
          return;
        }
        // 404 while the upload is still on its way: the session starts once the file is in.
        if (error.status !== 404) {
          this.log('poll failed', error.message);
        }
        // No answer at all, or the server failing: progress is not coming in.
        this.setReachable(error.status !== 0 && !(error.status >= 500));
      }
      if (this.polling) {
        this.pollTimer = setTimeout(poll, this.pollInterval);
      }
    };
    poll();
  }

  stopPolling() {
    clearTimeout(this.pollTimer);
    this.pollTimer = null;
    if (this.polling) {
      this.polling = false;
      this.emit('statechange', this);
    }
  }

  /** Hands on a polled status; true once the import has ended. */
  deliverStatus(status) {
    if (status.outcome === 'cancelled') {
      this.emit('importCancelled', { sessionId: status.sessionId });
      return true;
    }
    this.emit('progress', status);
    return status.type === 'complete' || status.type === 'error';
  }

  deliver(name, event) {
    this.log(name, event);
    if (event?.sessionId === this.sessionId) {
      this.emit(name, event);
    }
  }

  emit(name, value) {
    for (const handler of this.handlers.get(name) ?? []) {
      handler(value);
    }
  }

  setReachable(reachable) {
    if (this.serverReachable !== reachable) {
      this.serverReachable = reachable;
      this.emit('statechange', this);
    }
  }

  setState(state) {
    if (this.connectionState !== state) {
      this.connectionState = state;
      this.emit('statechange', this);
    }
  }

  log(...args) {
    let setting;
    try {
      setting = this.storage?.debug;
    } catch {
      // Storage can be refused (privacy settings): no debug logging then.
    }
    if (debugEnabled(LOG_NAMESPACE, setting)) {
      console.debug(LOG_NAMESPACE, ...args);
    }
  }
}
