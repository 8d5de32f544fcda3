// The live consumer: one WebSocket (subprotocol gateway.v1.json, see docs/websocket-protocol.md) per vhost, carrying
// the dashboard's subscriptions and their deliveries. It lives outside the views, so that deliveries keep arriving
// while the person looks at another page.

import { socketUrl, get, paths, ApiError } from './api.js';

const PROTOCOL = 'gateway.v1.json';

/**
 * Events (on the instance): 'change' whenever state, subscriptions or deliveries change; 'notice' with
 * { detail: { text, kind } } for things to announce (server errors, cancellations).
 */
export class LiveConsumer extends EventTarget {
  constructor() {
    super();
    this.vhost = null;
    this.socket = null;
    /** 'closed' | 'connecting' | 'open' */
    this.state = 'closed';
    /** id → { id, queue, prefetch, ackMode, confirmed } */
    this.subscriptions = new Map();
    /** Unsettled manual deliveries and recent auto-acked ones, newest last: { ...frame, settled? } */
    this.deliveries = [];
    this.received = 0;
    this.nextId = 1;
    this.pending = new Map(); // request id → { resolve, reject }
  }

  changed() { this.dispatchEvent(new Event('change')); }
  notice(text, kind = 'info') { this.dispatchEvent(new CustomEvent('notice', { detail: { text, kind } })); }

  /** Opens the socket of a vhost (closing another vhost's first). Resolves when open. */
  async connect(vhost) {
    if (this.socket && this.vhost === vhost && this.state !== 'closed') return this.opened;
    this.close();
    this.vhost = vhost;
    this.state = 'connecting';
    this.changed();
    let url;
    try {
      url = await socketUrl(vhost);
    } catch (e) {
      this.state = 'closed';
      this.changed();
      throw e;
    }
    const socket = new WebSocket(url, PROTOCOL);
    this.socket = socket;
    this.opened = new Promise((resolve, reject) => {
      socket.addEventListener('open', () => {
        this.state = 'open';
        this.changed();
        resolve();
      }, { once: true });
      socket.addEventListener('close', async (event) => {
        if (this.socket !== socket) return;
        const wasOpen = this.state === 'open';
        this.dropSession();
        if (!wasOpen) {
          // The handshake failed: ask the API why (an unknown vhost is a 404, a refused key a 401 that ends the session).
          let reason = 'The WebSocket could not be opened.';
          try { await get(paths.vhost(vhost)); } catch (e) { if (e instanceof ApiError) reason = e.message; }
          reject(new Error(reason));
        } else if (event.code !== 1000) {
          this.notice(`The live connection closed (${event.code}${event.reason ? `: ${event.reason}` : ''}); unacknowledged deliveries went back to their queues.`, 'error');
        }
      });
    });
    socket.addEventListener('message', (event) => this.onFrame(event.data));
    return this.opened;
  }

  /** Closes the socket: the server puts every unacknowledged delivery back in its queue, redelivered. */
  close() {
    if (!this.socket) return;
    const socket = this.socket;
    this.dropSession();
    socket.close(1000, 'closed by the dashboard');
  }

  dropSession() {
    this.socket = null;
    this.state = 'closed';
    this.subscriptions.clear();
    this.deliveries = [];
    for (const { reject } of this.pending.values()) reject(new Error('The connection closed.'));
    this.pending.clear();
    this.changed();
  }

  send(frame) {
    if (this.state !== 'open') throw new Error('The live connection is not open.');
    this.socket.send(JSON.stringify(frame));
  }

  /** Sends a frame with an id and waits for its answer (subscribed, cancelled, pong) or error. */
  call(frame) {
    return new Promise((resolve, reject) => {
      this.pending.set(frame.id, { resolve, reject });
      try { this.send(frame); } catch (e) { this.pending.delete(frame.id); reject(e); }
    });
  }

  /** Subscribes to a queue of the current vhost. */
  async subscribe(vhost, queue, prefetch, ackMode) {
    await this.connect(vhost);
    const id = `dashboard-${this.nextId++}`;
    const subscription = { id, queue, prefetch, ackMode };
    this.subscriptions.set(id, subscription);
    this.changed();
    try {
      await this.call({ type: 'subscribe', id, queue, prefetch, ackMode });
    } catch (e) {
      this.subscriptions.delete(id);
      this.changed();
      throw e;
    }
    return subscription;
  }

  /** Cancels a subscription: its unacknowledged deliveries go back to the queue. */
  async cancel(id) {
    await this.call({ type: 'cancel', id });
  }

  /** Acknowledges a delivery (manual subscriptions). */
  ack(delivery) { this.settle(delivery, { type: 'ack', deliveryTag: delivery.deliveryTag }, 'acknowledged'); }

  /** Rejects a delivery: requeued (back at its position, redelivered) or dropped (dead-lettered when configured). */
  nack(delivery, requeue) {
    this.settle(delivery, { type: 'nack', deliveryTag: delivery.deliveryTag, requeue }, requeue ? 'requeued' : 'rejected');
  }

  settle(delivery, frame, outcome) {
    this.send(frame);
    // The server answers nothing on success and an error frame (404) for an unknown tag; the frame order tells which.
    delivery.settled = outcome;
    this.deliveries = this.deliveries.filter((d) => d !== delivery);
    this.changed();
    this.notice(`Delivery ${delivery.routingKey ? `'${delivery.routingKey}' ` : ''}${outcome}.`);
  }

  onFrame(data) {
    let frame;
    try { frame = JSON.parse(data); } catch { return; }
    switch (frame.type) {
      case 'delivery': {
        this.received++;
        const subscription = this.subscriptions.get(frame.subscription);
        const delivery = { ...frame, queue: subscription?.queue ?? '', ackMode: subscription?.ackMode ?? 'manual', receivedAt: new Date() };
        this.deliveries.push(delivery);
        // Auto-acked deliveries need no button: keep only the latest few of them for display.
        const auto = this.deliveries.filter((d) => d.ackMode === 'auto');
        if (auto.length > 50) this.deliveries.splice(this.deliveries.indexOf(auto[0]), 1);
        this.changed();
        break;
      }
      case 'subscribed': {
        const s = this.subscriptions.get(frame.id);
        if (s) s.confirmed = true;
        this.resolve(frame.id, frame);
        this.changed();
        break;
      }
      case 'cancelled': {
        const s = this.subscriptions.get(frame.id);
        this.subscriptions.delete(frame.id);
        this.deliveries = this.deliveries.filter((d) => d.subscription !== frame.id);
        this.resolve(frame.id, frame);
        if (frame.reason === 'queue-deleted' && s) this.notice(`The queue '${s.queue}' was deleted: its subscription ended.`, 'error');
        if (frame.reason === 'access-refused' && s) this.notice(`You may no longer read the queue '${s.queue}': its subscription ended.`, 'error');
        this.changed();
        break;
      }
      case 'suspended': {
        // The backend lost the consumer: the shown deliveries come again (redelivered), their tags no longer settle.
        const s = this.subscriptions.get(frame.id);
        this.deliveries = this.deliveries.filter((d) => d.subscription !== frame.id);
        if (s) this.notice(`The broker backend went away: the subscription to '${s.queue}' resumes by itself when it is back.`, 'error');
        this.changed();
        break;
      }
      case 'restored': {
        const s = this.subscriptions.get(frame.id);
        if (s) this.notice(`The subscription to '${s.queue}' is back; unacknowledged deliveries come again.`);
        this.changed();
        break;
      }
      case 'pong':
      case 'confirm':
        this.resolve(frame.id, frame);
        break;
      case 'error': {
        const waiting = frame.id !== undefined && this.pending.get(frame.id);
        if (waiting) {
          this.pending.delete(frame.id);
          waiting.reject(new ApiError(frame.status, { detail: frame.detail, status: frame.status }));
        } else {
          this.notice(frame.detail || `The gateway answered an error (${frame.status}).`, 'error');
        }
        break;
      }
      default:
        break;
    }
  }

  resolve(id, frame) {
    const waiting = this.pending.get(id);
    if (!waiting) return;
    this.pending.delete(id);
    waiting.resolve(frame);
  }
}

/** The one live consumer of this tab. */
export const liveConsumer = new LiveConsumer();
