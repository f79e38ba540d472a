import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';

/**
 * Kept-alive connections for proxied requests, one pool per destination *as checked*: scheme,
 * host name, port and the addresses the egress guard vetted and pinned the connection to. A
 * pooled socket is only ever reused by a request whose own check, made again for that request,
 * produced the same addresses, so a DNS answer that changes later (rebinding) still cannot move
 * a request onto an address nobody checked: it gets another pool, whose connections go where
 * its own check said. A fresh connection per proxied request was most of a proxied request's
 * CPU after its audit write (connect, handshake, close; docs/performance.md).
 *
 * Requests with a client certificate (mTLS) never come here: their TLS session is the
 * credential's, and is not shared.
 */
export interface ConnectionPools {
  /** The agent for this checked destination; `addresses`: every address the check passed, as the pinned lookup offers them. */
  agentFor(protocol: 'http:' | 'https:', host: string, port: string, addresses: readonly string[]): HttpAgent;
}

/** Idle connections close after this long; a target's own `Keep-Alive: timeout=` hint, when shorter, wins (Node's agent reads it). */
const IDLE_MS = 4000;
/** Distinct destinations kept; beyond it the least recently used pool is let go (its idle sockets close by IDLE_MS). */
const MAX_POOLS = 256;
/** Idle connections kept per destination; concurrent requests beyond them open more, closed after use. */
const MAX_FREE_SOCKETS = 64;

export function createConnectionPools(): ConnectionPools {
  const pools = new Map<string, HttpAgent>();
  return {
    agentFor(protocol, host, port, addresses) {
      const key = `${protocol}//${host}:${port}@${addresses.join(',')}`;
      let agent = pools.get(key);
      if (agent !== undefined) {
        // Most recently used last, so the first is the one to let go.
        pools.delete(key);
        pools.set(key, agent);
        return agent;
      }
      const options = { keepAlive: true, maxFreeSockets: MAX_FREE_SOCKETS, timeout: IDLE_MS, scheduling: 'lifo' as const };
      agent = protocol === 'https:' ? new HttpsAgent(options) : new HttpAgent(options);
      pools.set(key, agent);
      if (pools.size > MAX_POOLS) {
        const oldest = pools.keys().next().value;
        // Not destroyed: requests may still be using its sockets; idle ones close on their own.
        if (oldest !== undefined) pools.delete(oldest);
      }
      return agent;
    },
  };
}
