import type { CredentialRow } from '../domain/records.js';
import { serializerFor } from './compiled-schemas.js';
import { CredentialView } from './schemas/credential-schemas.js';
import { credentialView, listBody } from './views.js';

let serialize: ((view: ReturnType<typeof credentialView>) => string) | undefined;
const serialized = new WeakMap<CredentialRow, string>();

/**
 * A credential's metadata as its response body, made once per row object. Store adapters that
 * cache rows hand out the same frozen object until the row changes (a write or a usage touch
 * makes a new one), so repeated reads of one credential skip building and serializing the view:
 * that was a tenth of a metadata GET.
 */
export function credentialJson(c: CredentialRow): string {
  let json = serialized.get(c);
  if (json === undefined) {
    serialize ??= serializerFor(CredentialView);
    json = serialize(credentialView(c));
    serialized.set(c, json);
  }
  return json;
}

/**
 * A page of credentials as its response body (the shape of `ListOf(CredentialView)`, fields in
 * its order), from each row's body above: a page of 25 otherwise serialized 25 views on every
 * request, more than half of what a list cost.
 */
export function credentialPageJson(rows: CredentialRow[], total: number, p: { page: number; perPage: number }): string {
  const body = listBody(rows, total, p, credentialJson);
  return `{"data":[${body.data.join(',')}],"page":${body.page},"per_page":${body.per_page},"total":${body.total},"next_cursor":${JSON.stringify(body.next_cursor)}}`;
}
