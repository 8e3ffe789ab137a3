// Subscriptions over one WebSocket speaking graphql-transport-ws.
//
// The connection is watched (the browser's online/offline events, and a ping answered within
// a few seconds); when it drops, it is made again, backing off, and every subscription is
// started again with the variables it asks for at that moment. A stream asks for
// `after: <the last sequence it saw>`, so the server replays what happened meanwhile and no
// event is missed.

const PING_EVERY_MS = 10000;
const PONG_WITHIN_MS = 5000;
const FIRST_RETRY_MS = 250;
const LONGEST_RETRY_MS = 5000;
// Close codes after which trying again cannot help: the token is not accepted.
const REFUSED = new Set([4401, 4403]);

export class Live {
  constructor(token, url, onState) {
    this.token = token;
    this.url = url;
    this.onState = onState;
    this.subscriptions = new Map();
    this.nextId = 1;
    this.socket = null;
    this.acknowledged = false;
    this.attempts = 0;
    this.retryTimer = null;
    this.pingTimer = null;
    this.pongTimer = null;
    this.stopped = false;
    this.goneOffline = () => this.drop("offline");
    this.backOnline = () => this.reconnectNow();
  }

  start() {
    window.addEventListener("offline", this.goneOffline);
    window.addEventListener("online", this.backOnline);
    this.connect();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener("offline", this.goneOffline);
    window.removeEventListener("online", this.backOnline);
    this.drop("stopped");
  }

  // Starts a subscription; `variables` is called at every (re)start. Returns a function that
  // ends it.
  subscribe(query, variables, onData, onError = () => {}) {
    const subscription = { id: String(this.nextId++), query, variables, onData, onError };
    this.subscriptions.set(subscription.id, subscription);
    if (this.acknowledged) this.send(this.subscribeMessage(subscription));
    return () => {
      this.subscriptions.delete(subscription.id);
      if (this.acknowledged) this.send({ id: subscription.id, type: "complete" });
    };
  }

  connect() {
    if (this.stopped || this.socket) return;
    clearTimeout(this.retryTimer);
    this.setState(this.attempts ? "reconnecting" : "connecting");
    const socket = new WebSocket(this.url, "graphql-transport-ws");
    this.socket = socket;
    socket.onopen = () => {
      this.send({ type: "connection_init", payload: { Authorization: `Bearer ${this.token}` } });
    };
    socket.onmessage = (event) => {
      if (this.socket === socket) this.receive(JSON.parse(event.data));
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) return; // one dropped on purpose: already handled
      this.forget();
      if (REFUSED.has(event.code)) {
        this.setState("refused");
        return;
      }
      this.retryLater();
    };
  }

  receive(message) {
    const subscription = this.subscriptions.get(message.id);
    switch (message.type) {
      case "connection_ack":
        this.acknowledged = true;
        this.attempts = 0;
        this.setState("live");
        for (const each of this.subscriptions.values()) this.send(this.subscribeMessage(each));
        this.keepChecking();
        break;
      case "next":
        if (!subscription) break;
        if (message.payload.errors) subscription.onError(message.payload.errors);
        else subscription.onData(message.payload.data);
        break;
      case "error":
        if (subscription) subscription.onError(message.payload);
        break;
      case "complete":
        // The server ended a stream the page still wants (say it fell behind): start it
        // again from where it was.
        if (subscription) this.send(this.subscribeMessage(subscription));
        break;
      case "ping":
        this.send({ type: "pong" });
        break;
      case "pong":
        clearTimeout(this.pongTimer);
        break;
    }
  }

  subscribeMessage(subscription) {
    return {
      id: subscription.id,
      type: "subscribe",
      payload: { query: subscription.query, variables: subscription.variables() },
    };
  }

  keepChecking() {
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => {
      this.send({ type: "ping" });
      clearTimeout(this.pongTimer);
      this.pongTimer = setTimeout(() => this.drop("silent"), PONG_WITHIN_MS);
    }, PING_EVERY_MS);
  }

  // Leaves the current socket (the network is gone, or it stopped answering) and, unless
  // stopped, tries again.
  drop(reason) {
    const socket = this.socket;
    this.forget();
    if (socket) {
      try {
        socket.close(1000, reason);
      } catch (error) {
        // closing a socket that never opened: nothing to do
      }
    }
    if (this.stopped) this.setState("idle");
    else if (reason === "offline") this.setState("offline");
    else this.retryLater();
  }

  forget() {
    this.socket = null;
    this.acknowledged = false;
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
  }

  retryLater() {
    if (this.stopped) return;
    if (!navigator.onLine) {
      this.setState("offline"); // the online event reconnects
      return;
    }
    this.setState("reconnecting");
    const delay = Math.min(LONGEST_RETRY_MS, FIRST_RETRY_MS * 2 ** this.attempts);
    this.attempts += 1;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  reconnectNow() {
    if (this.stopped || this.socket) return;
    this.attempts = Math.max(this.attempts, 1);
    this.connect();
  }

  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(message));
    }
  }

  setState(state) {
    this.state = state;
    this.onState(state);
  }
}
