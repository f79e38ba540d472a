/**
 * The console's calls: the native API with the session cookie (sent by the browser, unreadable
 * here) and the session's CSRF token, which the server asks for on every cookie request.
 */
export interface Session {
  principal: { id: string; name: string; type: string; role: string; tenant_id: string };
  permissions: string[];
  csrf_token: string;
  expires_at: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: unknown,
  ) {
    super(message);
  }
}

let csrf = '';
let onSessionEnd: () => void = () => undefined;

export function useSession(s: Session | null, ended: () => void): void {
  csrf = s?.csrf_token ?? '';
  onSessionEnd = ended;
}

export async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  return (await send<T>(method, path, body)).body;
}

/** A call that also sends `If-Match` (optimistic concurrency) and answers the resource's `ETag`. */
export async function send<T>(method: string, path: string, body?: unknown, ifMatch?: string | null): Promise<{ body: T; etag: string | null }> {
  const headers: Record<string, string> = { accept: 'application/json', 'x-csrf-token': csrf };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (ifMatch) headers['if-match'] = ifMatch;
  const res = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    cache: 'no-store',
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const etag = res.headers.get('etag');
  if (res.status === 204) return { body: undefined as T, etag };
  const json = (await res.json().catch(() => ({}))) as { error?: { code?: string; message?: string; details?: unknown } };
  if (!res.ok) {
    const e = json.error ?? {};
    const err = new ApiError(res.status, e.code ?? 'ERROR', e.message ?? `HTTP ${res.status}`, e.details);
    // The key behind the session was revoked, the session expired or was ended elsewhere.
    if (res.status === 401 && !path.startsWith('/ui/session')) onSessionEnd();
    throw err;
  }
  return { body: json as T, etag };
}

/** The call failed because the session ended: the sign-in page is already showing, render nothing else. */
export function sessionEnded(err: unknown): boolean {
  return err instanceof ApiError && err.status === 401;
}

export function describe(err: unknown): string {
  if (err instanceof ApiError) {
    const details = typeof err.details === 'string' ? ` (${err.details})` : '';
    return `${err.message}${details}`;
  }
  return 'The request failed';
}
