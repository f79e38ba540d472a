// A version's secret slots as stored: JSON sealed under the tenant's data key, bound to where it belongs.
import { secretAad } from '../../crypto/aead.js';
import type { Keyring } from '../../crypto/keyring.js';
import type { CredentialWrite, VersionRow } from '../../store/port.js';

export type SecretValues = Record<string, unknown>;

/**
 * Sealing of one secret slot of one version, for every service that writes versions (the OAuth
 * service stores tokens through it): JSON, AES-256-GCM under the tenant's current data key, AAD
 * = tenant, credential, version and slot (`secretAad`).
 */
export async function sealSecretValues(
  keyring: Pick<Keyring, 'sealFor'>,
  tenantId: string,
  credentialId: string,
  version: number,
  slot: 'secret' | 'test_secret',
  values: SecretValues,
): Promise<Buffer> {
  return keyring.sealFor(tenantId, Buffer.from(JSON.stringify(values), 'utf8'), secretAad(tenantId, credentialId, version, slot));
}

export async function openSecretValues(keyring: Pick<Keyring, 'openFor'>, v: VersionRow, slot: 'secret' | 'test_secret'): Promise<SecretValues | null> {
  const blob = slot === 'secret' ? v.secret : v.testSecret;
  if (blob === null) return null;
  return JSON.parse((await keyring.openFor(v.tenantId, blob, secretAad(v.tenantId, v.credentialId, v.version, slot))).toString('utf8')) as SecretValues;
}

/** A new current version: the old current becomes previous until `graceEnds`; older previous ones retire. */
export function restagePlan(versions: readonly VersionRow[], currentVersion: number, graceEnds: string): NonNullable<CredentialWrite['restage']> {
  const older = versions.filter((v) => v.stage === 'previous' && v.version !== currentVersion);
  return [
    { version: currentVersion, stage: 'previous', expiresAt: graceEnds },
    ...older.map((v) => ({ version: v.version, stage: 'deprecated' as const, expiresAt: v.expiresAt })),
  ];
}
