/**
 * What the AWS Secrets Manager and Vault KV v2 dialects share (docs/compat.md): a secret is a
 * credential found by its name, its value is the credential's secret fields, and tags and custom
 * metadata are the credential's `metadata`. Both go through the native services only.
 */
import { LatchkeyError } from '../../domain/errors.js';
import type { RequestContext } from '../../domain/principal.js';
import type { Services } from '../../services/services.js';
import type { CredentialRow, Keyset } from '../../domain/records.js';

/** AWS secret names ([A-Za-z0-9/_+=.@-]) are also Vault paths and Latchkey names; 200 is the native limit. */
export const SECRET_NAME_RE = /^[A-Za-z0-9/_+=.@-]{1,200}$/;

const PAGE = 500;

/**
 * Every credential the caller can see, page by page in the store's order (newest first), from
 * after `after`; `filter.name` narrows the store's query (a case-insensitive "contains"), `filter.exactName` to one name.
 */
export async function* visibleCredentials(
  s: Services,
  ctx: RequestContext,
  filter: { name?: string; exactName?: string } = {},
  after?: Keyset,
): AsyncGenerator<CredentialRow> {
  let position = after;
  for (;;) {
    const { rows } = await s.credentials.list(ctx, filter, { limit: PAGE, ...(position ? { after: position } : {}) });
    yield* rows;
    const last = rows[rows.length - 1];
    if (rows.length < PAGE || last === undefined) return;
    position = { createdAt: last.createdAt, id: last.id };
  }
}

/**
 * The credential named exactly `name` that the caller can see, or null. Names are unique per
 * owning team, so a whole-tenant caller may see two: that is refused rather than guessed.
 */
export async function credentialByName(s: Services, ctx: RequestContext, name: string): Promise<CredentialRow | null> {
  const found: CredentialRow[] = [];
  for await (const c of visibleCredentials(s, ctx, { exactName: name })) if (c.name === name) found.push(c);
  if (found.length > 1)
    throw new LatchkeyError('INVALID_PARAMETER', `${found.length} credentials you can see are named ${name} (one per team): address one by its id`);
  return found[0] ?? null;
}

/**
 * A `text` credential's value is the secret as a string; any other type's secret is the JSON
 * object of its secret fields (`{"username":…,"password":…}` for basic).
 */
export function secretAsString(c: CredentialRow, secret: Record<string, unknown>): string {
  if (c.type === 'text' && typeof secret.value === 'string') return secret.value;
  return JSON.stringify(secret);
}

/** The reverse of `secretAsString` for a credential of `type`: null when the string is not an object of fields. */
export function secretFromString(type: string, value: string): Record<string, unknown> | null {
  if (type === 'text') return { value };
  try {
    const parsed: unknown = JSON.parse(value);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/**
 * Vault's `data` object of a credential: a `text` value that is a JSON object is that object
 * (what a Vault write stores), any other text is `{ "value": … }`; other types are their fields.
 */
export function secretAsData(c: CredentialRow, secret: Record<string, unknown>): Record<string, unknown> {
  if (c.type !== 'text' || typeof secret.value !== 'string') return secret;
  const parsed = secretFromString('json', secret.value);
  return parsed !== null && !isValueOnly(parsed) ? parsed : { value: secret.value };
}

/** The reverse of `secretAsData`: `{ "value": "x" }` is stored as `x`, any other object as its JSON. */
export function secretFromData(type: string, data: Record<string, unknown>): Record<string, unknown> {
  if (type !== 'text') return data;
  return isValueOnly(data) ? { value: data.value } : { value: JSON.stringify(data) };
}

function isValueOnly(o: Record<string, unknown>): o is { value: string } {
  const keys = Object.keys(o);
  return keys.length === 1 && keys[0] === 'value' && typeof o.value === 'string';
}

/** Tags (AWS) and custom metadata (Vault) are the credential's string-valued `metadata` entries. */
export function stringMetadata(c: CredentialRow): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(c.metadata)) if (typeof v === 'string') out[k] = v;
  return out;
}
