// The signaling socket (docs/video.md, "Signaling"): hello with the session token, the server's
// messages to `onMessage`, and after an unexpected close a reconnect with backoff that says
// hello with the old peer_id, so that the server resumes the same peer.

/** Close codes after which the page must not come back. */
export const FINAL_CLOSES = {
  4001: 'replaced',
  4002: 'call-ended',
  4003: 'declined',
  4004: 'session-invalid',
};

export class Signaling {
  /**
   * @param {string} token the session token
   * @param {{onMessage(msg), onOpen?(resumed), onLost?(), onFinal?(code, reason, lastError)}} handlers
   */
  constructor(token, handlers) {
    this.token = token;
    this.handlers = handlers;
    this.peerId = null;
    this.socket = null;
    this.attempt = 0;
    this.stopped = false;
    this.retryTimer = null;
    this.lastError = null;
  }

  get url() {
    const scheme = location.protocol === 'http:' ? 'ws:' : 'wss:';
    return `${scheme}//${location.host}/video/signal`;
  }

  connect() {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.addEventListener('open', () => {
      if (socket !== this.socket) return;
      const hello = { type: 'hello', token: this.token };
      if (this.peerId) hello.peer_id = this.peerId;
      socket.send(JSON.stringify(hello));
    });
    socket.addEventListener('message', (event) => {
      if (socket !== this.socket) return;
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        console.warn('sprechstunde: unreadable signaling message');
        return;
      }
      if (message.type === 'welcome') {
        const resumed = this.peerId !== null && this.peerId === message.peer_id;
        this.peerId = message.peer_id;
        this.attempt = 0;
        message.resumed = resumed;
      } else if (message.type === 'error') {
        this.lastError = message;
      }
      this.handlers.onMessage(message);
    });
    socket.addEventListener('close', (event) => {
      if (socket !== this.socket) return;
      this.socket = null;
      if (this.stopped) return;
      if (FINAL_CLOSES[event.code] || (event.code >= 4000 && event.code <= 4099)) {
        this.stopped = true;
        this.handlers.onFinal?.(event.code, FINAL_CLOSES[event.code] || 'error', this.lastError);
        return;
      }
      this.handlers.onLost?.();
      this.scheduleReconnect();
    });
  }

  scheduleReconnect() {
    const delays = [500, 1000, 2000, 4000, 8000];
    const delay = delays[Math.min(this.attempt, delays.length - 1)] + Math.floor(Math.random() * 250);
    this.attempt += 1;
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(message));
      return true;
    }
    return false;
  }

  get connected() {
    return !!this.socket && this.socket.readyState === WebSocket.OPEN;
  }

  /** Says goodbye (when `leave`) and stops for good. */
  close(leave = false) {
    if (leave) this.send({ type: 'leave' });
    this.stopped = true;
    clearTimeout(this.retryTimer);
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      // Give the leave message a moment on the wire; the server closes with 1000 itself.
      setTimeout(() => {
        try {
          socket.close(1000, leave ? 'left' : 'closed');
        } catch {
          // already closed
        }
      }, leave ? 300 : 0);
    }
  }

  /** For tests: drops the socket as a network blip would (no goodbye), to exercise resuming. */
  dropForTest() {
    if (this.socket) this.socket.close(3000, 'test drop');
  }
}
