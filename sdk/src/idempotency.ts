/**
 * A fresh `Idempotency-Key`. The SDK makes one for each create-like POST the caller did not key
 * itself, so a retry after a lost answer returns the first result instead of creating twice.
 */
export function newIdempotencyKey(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (c?.randomUUID) return `sdk_${c.randomUUID()}`;
  // Only very old runtimes lack randomUUID; uniqueness, not secrecy, is what matters here.
  return `sdk_${Date.now().toString(36)}_${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
}
