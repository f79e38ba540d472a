/**
 * A resource as the server sent it, plus the response's `ETag` for optimistic concurrency:
 * pass it back as `ifMatch` and the write fails with `PreconditionFailedError` if someone else
 * changed the resource first.
 *
 * `etag` is a non-enumerable property, so `JSON.stringify`, spreading and `deepEqual` see only
 * the wire object (and spreading a resource into a request body never sends an unknown field).
 */
export type WithEtag<T> = T & { readonly etag: string | null };

export function withEtag<T extends object>(body: T, headers: Headers): WithEtag<T> {
  // A body that is not an object (a misbehaving proxy's empty 200) cannot carry it; callers then see no etag.
  if (typeof body !== 'object' || body === null) return body as WithEtag<T>;
  Object.defineProperty(body, 'etag', { value: headers.get('etag'), enumerable: false, writable: false, configurable: true });
  return body as WithEtag<T>;
}

/** `If-Match` from an etag the caller kept; none when it has none. */
export function ifMatchHeader(etag: string | null | undefined): Record<string, string> {
  return etag === undefined || etag === null ? {} : { 'if-match': etag };
}
