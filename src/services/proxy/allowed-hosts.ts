import { isIP } from 'node:net';

/**
 * Whether a target URL is one a credential's `allowed_hosts` lets it be sent to. An entry is a
 * host name, optionally `*.` in front and `:port` behind:
 *  - `api.example.com` matches that name only: `example.com.evil.com`, `xapi.example.com` and a
 *    trailing-dot `api.example.com.` do not;
 *  - `*.example.com` matches exactly one label in front (`eu.example.com`), as a TLS certificate
 *    wildcard does (RFC 6125 §6.4.3): neither `example.com` itself nor `a.b.example.com`;
 *  - without a port an entry allows the scheme's default port only (443, or 80 for plain http,
 *    which the egress guard allows only where the operator said so); with one, that port only;
 *  - a literal address matches only an entry that is that literal: the address a listed name
 *    resolves to is not that name (the name is what the TLS certificate is checked against);
 *  - an empty list allows nothing.
 * Names compare case-insensitively (the URL parser has lower-cased the target already).
 */
export function hostAllowed(allowedHosts: readonly string[], target: URL): boolean {
  const host = target.hostname.startsWith('[') ? target.hostname.slice(1, -1) : target.hostname;
  // The URL parser leaves `port` empty exactly when it is the scheme's default (https://x:443 too).
  const port = target.port === '' ? null : Number(target.port);
  const defaultPort = target.protocol === 'http:' ? 80 : 443;
  return allowedHosts.some((entry) => entryMatches(entry.toLowerCase(), host, port, defaultPort));
}

function entryMatches(entry: string, host: string, port: number | null, defaultPort: number): boolean {
  const colon = entry.lastIndexOf(':');
  const name = colon < 0 ? entry : entry.slice(0, colon);
  const written = colon < 0 ? null : Number(entry.slice(colon + 1));
  const entryPort = written === defaultPort ? null : written;
  if (entryPort !== port) return false;
  if (!name.startsWith('*.')) return name === host;
  if (isIP(host) !== 0) return false;
  const dot = host.indexOf('.');
  return dot > 0 && host.slice(dot + 1) === name.slice(2);
}
