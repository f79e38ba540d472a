import { createHmac, randomBytes } from 'node:crypto';
import { purposeAad } from '../../crypto/aead.js';

/**
 * The Standard Webhooks signature scheme (https://www.standardwebhooks.com/, "Signature scheme"):
 * the secret is `whsec_` + base64 of the key bytes; each delivery carries `webhook-id`,
 * `webhook-timestamp` (Unix seconds) and `webhook-signature`, a space-separated list of
 * `v1,<base64 HMAC-SHA256(key, id + "." + timestamp + "." + body)>`, one per secret in use (during
 * a rotation's overlap, the new and the old one), so a receiver with either secret verifies.
 */
export const SECRET_PREFIX = 'whsec_';

/** A new signing secret: 32 random bytes (the spec asks for 24 to 64). */
export function newSigningSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64');
}

export function signatureOf(secret: string, msgId: string, timestampSeconds: number, body: string): string {
  const key = Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64');
  return `v1,${createHmac('sha256', key).update(`${msgId}.${timestampSeconds}.${body}`).digest('base64')}`;
}

/** The headers of one delivery, signed with every secret given (newest first). */
export function signedHeaders(secrets: readonly string[], msgId: string, timestampSeconds: number, body: string): Record<string, string> {
  return {
    'content-type': 'application/json',
    'user-agent': 'latchkey-webhooks',
    'webhook-id': msgId,
    'webhook-timestamp': String(timestampSeconds),
    'webhook-signature': secrets.map((s) => signatureOf(s, msgId, timestampSeconds, body)).join(' '),
  };
}

/**
 * AAD of a sealed signing secret: tenant, subscription and the secret's version (1 on create, +1
 * per rotation; the previous secret keeps the AAD it was sealed with, version - 1), so a blob
 * copied to another subscription, or an old one put back in place of the current, does not open.
 */
export function webhookSecretAad(tenantId: string, webhookId: string, version: number): Buffer {
  return purposeAad('webhook_secret', tenantId, webhookId, String(version));
}
