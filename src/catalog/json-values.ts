// Plain JSON data as the catalog handles it: type files, configs and secrets.

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Copies JSON-like data so that Ajv's defaults land on our copy, never the caller's object.
 * Keys are defined, not assigned, so a "__proto__" key stays an own property (and is then
 * refused by additionalProperties) instead of replacing the copy's prototype.
 */
export function cloneJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(cloneJson);
  if (isRecord(value)) {
    const out: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(value)) {
      Object.defineProperty(out, key, { value: cloneJson(child), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return value;
}

export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
