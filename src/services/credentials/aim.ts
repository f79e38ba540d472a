import { isDeepStrictEqual } from 'node:util';
import type { CredentialType } from '../../catalog/catalog.js';
import { LatchkeyError } from '../../domain/errors.js';
import type { RequestContext } from '../../domain/principal.js';
import { can } from '../../domain/roles.js';
import type { CredentialRow } from '../../store/port.js';
import type { CredentialPatch } from './credential-input.js';

/**
 * Aiming is revealing. A config field that decides where a secret is sent (the catalog's
 * `aim_fields`: an SMTP host, a token endpoint, a TLS mode…) and the credential's
 * `allowed_hosts` are as good as the secret to whoever can change them: point the host at your
 * own server, then let verify, the refresh scheduler or any client that trusts the config
 * deliver the secret there. So changing where a secret goes needs `credentials:reveal`, unless
 * the same request replaces every secret value — then nothing the caller could not read
 * already goes anywhere new.
 */

function configValue(type: CredentialType, config: Record<string, unknown>, name: string): unknown {
  // A stored config from before a default existed reads as the default, as the catalog's rules do.
  return Object.hasOwn(config, name) ? config[name] : type.config.properties[name]?.['default'];
}

/** What a change of config and allowed hosts would re-aim (`config.host`, `allowed_hosts`); empty when nothing. */
export function aimChanges(
  type: CredentialType,
  before: { config: Record<string, unknown>; allowedHosts: readonly string[] },
  after: { config: Record<string, unknown>; allowedHosts: readonly string[] },
): string[] {
  const moved = type.aimFields
    .filter((name) => !isDeepStrictEqual(configValue(type, before.config, name), configValue(type, after.config, name)))
    .map((name) => `config.${name}`);
  // Removing a host only narrows where the secret may go; adding one widens it.
  if (after.allowedHosts.some((h) => !before.allowedHosts.includes(h))) moved.push('allowed_hosts');
  return moved;
}

/**
 * True when a PATCH leaves no stored secret value in place: every secret field of the type is
 * given a new value or removed, in the main secret and — when the credential keeps a test
 * secret — in the test secret too.
 */
export function replacesEverySecret(
  type: CredentialType,
  patch: { secret?: Record<string, unknown> | undefined; test_secret?: Record<string, unknown> | null | undefined },
  keepsTestSecret: boolean,
): boolean {
  const covers = (values: Record<string, unknown> | null | undefined): boolean =>
    values !== undefined && values !== null && type.secretFields.every((name) => Object.hasOwn(values, name));
  if (!covers(patch.secret)) return false;
  return !keepsTestSecret || covers(patch.test_secret);
}

/**
 * Aiming is revealing (above): a change of where the secret goes, by a caller who may not
 * reveal it, is refused and recorded unless the request replaces every secret value. PUT needs
 * no such check: it never carries a stored secret over.
 */
export function checkAim(
  ctx: RequestContext,
  t: CredentialType | undefined,
  current: CredentialRow,
  config: Record<string, unknown>,
  patch: CredentialPatch,
): void {
  if (!t || can(ctx.principal.role, 'credentials:reveal')) return;
  const moved = aimChanges(
    t,
    { config: current.config, allowedHosts: current.allowedHosts },
    { config, allowedHosts: patch.allowed_hosts ?? current.allowedHosts },
  );
  if (moved.length === 0 || replacesEverySecret(t, patch, patch.test_credential_enabled ?? current.testCredentialEnabled)) return;
  // The 403 is audited by the HTTP layer with every other refusal, grouped per actor and target.
  const why = `changing ${moved.join(', ')} needs credentials:reveal, or new values for every secret field (${t.secretFields.map((f) => `secret.${f}`).join(', ')})`;
  throw new LatchkeyError('FORBIDDEN', `Role ${ctx.principal.role} lacks credentials:reveal: ${why}`);
}

/**
 * Restoring an old version chooses which secret goes where the config points now; the config
 * that version was made for is not kept, so only a caller who may reveal it chooses that.
 */
export function checkRestoreAim(ctx: RequestContext, t: CredentialType | undefined): void {
  if (!t || t.aimFields.length === 0 || can(ctx.principal.role, 'credentials:reveal')) return;
  const why = `restoring an old secret of a ${t.id} credential needs credentials:reveal: it would go to where ${t.aimFields.map((f) => `config.${f}`).join(', ')} point now`;
  throw new LatchkeyError('FORBIDDEN', `Role ${ctx.principal.role} lacks credentials:reveal: ${why}`);
}
