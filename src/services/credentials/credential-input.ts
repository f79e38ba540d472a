import type { CredentialStatus, ProxyRules, ReadAccess } from '../../store/port.js';

/** What a caller may set on a credential, after the route has checked its shape. */
export interface CredentialInput {
  name: string;
  type: string;
  provider?: string | null;
  integration_id?: string | null;
  description?: string;
  config?: Record<string, unknown>;
  secret?: Record<string, unknown>;
  metadata?: Record<string, unknown>;
  allowed_hosts?: string[];
  proxy_rules?: ProxyRules;
  team_id?: string | null;
  folder_id?: string | null;
  read_access?: ReadAccess;
  shared_team_slugs?: string[];
  test_credential_enabled?: boolean;
  test_secret?: Record<string, unknown> | null;
  expires_at?: string | null;
  status?: CredentialStatus;
  deactivation_time?: string | null;
  rotation_interval_days?: number | null;
}

/** PATCH: every field optional; `config`/`secret` merge shallowly (a null value removes a field). */
export type CredentialPatch = Partial<Omit<CredentialInput, 'type' | 'config' | 'secret' | 'test_secret'>> & {
  config?: Record<string, unknown | null>;
  secret?: Record<string, unknown | null>;
  test_secret?: Record<string, unknown | null> | null;
};
