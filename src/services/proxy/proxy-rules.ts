import type { ProxyRules } from '../../store/port.js';

/**
 * Encoded `/`, `\` and `.`: a target that decodes them before routing would see another path
 * than the one checked (`/v1/mail/..%2Fadmin`), so with path rules they are not let through.
 */
const ENCODED_SEPARATOR = /%(2f|5c|2e)/i;

/**
 * Why a request falls outside a credential's `proxy_rules`, or null when it is inside. Methods
 * compare upper-cased; a path prefix matches at a segment boundary (`/v1/mail` allows `/v1/mail`
 * and `/v1/mail/send`, not `/v1/mailbox`; `/v1/` allows everything under it). The path is the
 * one sent (base path of the target joined, dot segments already resolved by the URL parser).
 */
export function outsideRules(rules: ProxyRules, method: string, target: URL): string | null {
  const methods = rules.methods ?? [];
  if (methods.length > 0 && !methods.includes(method.toUpperCase())) return `method ${method.toUpperCase()} is not one of ${methods.join(', ')}`;
  const prefixes = rules.path_prefixes ?? [];
  if (prefixes.length === 0) return null;
  const path = target.pathname;
  if (ENCODED_SEPARATOR.test(path)) return 'the path holds an encoded /, \\ or .';
  const inside = prefixes.some((p) => path === p || path.startsWith(p.endsWith('/') ? p : `${p}/`));
  return inside ? null : `the path is under none of ${prefixes.join(', ')}`;
}
