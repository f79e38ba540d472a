// Provider presets are data: one JSON file per provider in src/oauth/providers/. A new provider is
// a new file and one import line here (tsc emits imported JSON next to the build, so no copy step).
import github from '../../oauth/providers/github.json' with { type: 'json' };
import google from '../../oauth/providers/google.json' with { type: 'json' };
import hubspot from '../../oauth/providers/hubspot.json' with { type: 'json' };
import microsoft from '../../oauth/providers/microsoft.json' with { type: 'json' };
import generic from '../../oauth/providers/oauth2.json' with { type: 'json' };
import salesforce from '../../oauth/providers/salesforce.json' with { type: 'json' };
import servicenow from '../../oauth/providers/servicenow.json' with { type: 'json' };
import sharepoint from '../../oauth/providers/sharepoint.json' with { type: 'json' };
import slack from '../../oauth/providers/slack.json' with { type: 'json' };
import { validationFailed, type FieldIssue } from '../../domain/errors.js';

export type TokenAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'none';

/**
 * What a provider does with refresh tokens: `never` keeps the one it issued (a refresh answer
 * carries none), `always` hands out a new one on every refresh and retires the old one (losing
 * the new one means reconnecting), `optional` depends on how the app is registered.
 */
export type RefreshTokenRotation = 'never' | 'always' | 'optional';

export interface ProviderParam {
  /** Anchored pattern: the value lands in a URL, so it must not be able to change the host. */
  pattern: string;
  default?: string;
  description: string;
}

export type IdentitySource = { source: 'id_token' } | { source: 'userinfo'; endpoint: string; sub: string; email?: string; name?: string };

export interface ProviderPreset {
  id: string;
  title: string;
  docs: string;
  /** Template variables of the endpoints (`{instance}`), taken from the connect request's config. */
  params: Record<string, ProviderParam>;
  authorization_endpoint: string | null;
  token_endpoint: string | null;
  default_scopes: string[];
  scope_separator: string;
  token_endpoint_auth_method: TokenAuthMethod;
  pkce: boolean;
  refresh_token_rotation: RefreshTokenRotation;
  /** Extra authorization request parameters (Google: access_type=offline to get a refresh token). */
  authorization_params: Record<string, string>;
  identity: IdentitySource | null;
  /** Error codes that mean "this refresh token (or code) is dead": reconnect, do not retry. */
  invalid_grant_errors: string[];
  /** Other error codes that will not go away by retrying (bad client credentials, …). */
  permanent_errors: string[];
}

const PLACEHOLDER = /\{([a-z_]+)\}/g;

function checkPreset(raw: unknown): ProviderPreset {
  const p = raw as ProviderPreset;
  const fail = (why: string): never => {
    throw new Error(`provider preset ${String((raw as { id?: unknown }).id)}: ${why}`);
  };
  if (typeof p.id !== 'string' || !/^[a-z][a-z0-9_-]{0,39}$/.test(p.id)) fail('bad id');
  if (!['client_secret_basic', 'client_secret_post', 'none'].includes(p.token_endpoint_auth_method)) fail('bad token_endpoint_auth_method');
  if (!['never', 'always', 'optional'].includes(p.refresh_token_rotation)) fail('bad refresh_token_rotation');
  for (const endpoint of [p.authorization_endpoint, p.token_endpoint, p.identity?.source === 'userinfo' ? p.identity.endpoint : null]) {
    if (endpoint === null) continue;
    if (!endpoint.startsWith('https://')) fail(`endpoint ${endpoint} is not https`);
    for (const m of endpoint.matchAll(PLACEHOLDER)) if (!p.params[m[1] as string]) fail(`endpoint uses undeclared {${m[1]}}`);
  }
  for (const [name, param] of Object.entries(p.params)) {
    if (!param.pattern.startsWith('^') || !param.pattern.endsWith('$')) fail(`param ${name} pattern must be anchored`);
    if (param.default !== undefined && !new RegExp(param.pattern).test(param.default)) fail(`param ${name} default does not match its pattern`);
  }
  return p;
}

const PRESETS: ReadonlyMap<string, ProviderPreset> = new Map(
  [generic, google, microsoft, sharepoint, servicenow, github, slack, salesforce, hubspot].map((raw) => {
    const p = checkPreset(raw);
    return [p.id, p] as const;
  }),
);

export function providerPreset(id: string | null | undefined): ProviderPreset | undefined {
  return id ? PRESETS.get(id) : undefined;
}

export function listProviderPresets(): ProviderPreset[] {
  return [...PRESETS.values()];
}

/**
 * Fills a preset's endpoint templates from the request's config. Template variables are
 * removed from the config (the catalog's oauth2 config has no place for them); their values are
 * checked against the preset's anchored patterns so `{instance}` cannot become `evil.example/#`.
 */
export function applyPreset(preset: ProviderPreset, config: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...config };
  const values: Record<string, string> = {};
  const issues: FieldIssue[] = [];
  for (const [name, param] of Object.entries(preset.params)) {
    const given = out[name];
    delete out[name];
    const value = given === undefined ? param.default : given;
    if (typeof value !== 'string' || !new RegExp(param.pattern).test(value)) {
      issues.push({
        path: `config.${name}`,
        message: value === undefined ? `is required for provider ${preset.id} (${param.description})` : `must match ${param.pattern}`,
      });
      continue;
    }
    values[name] = value;
  }
  if (issues.length > 0) throw validationFailed(issues);
  const fill = (template: string): string => template.replace(PLACEHOLDER, (_m, name: string) => values[name] ?? '');
  if (out.authorization_endpoint === undefined && preset.authorization_endpoint) out.authorization_endpoint = fill(preset.authorization_endpoint);
  if (out.token_endpoint === undefined && preset.token_endpoint) out.token_endpoint = fill(preset.token_endpoint);
  if (out.scopes === undefined) out.scopes = [...preset.default_scopes];
  if (out.token_endpoint_auth_method === undefined) out.token_endpoint_auth_method = preset.token_endpoint_auth_method;
  if (out.pkce === undefined) out.pkce = preset.pkce;
  if (out.grant_type === undefined) out.grant_type = 'authorization_code';
  return out;
}

/** What the API shows of a preset. */
export function presetView(p: ProviderPreset) {
  return {
    id: p.id,
    title: p.title,
    docs: p.docs,
    params: Object.fromEntries(Object.entries(p.params).map(([k, v]) => [k, { pattern: v.pattern, default: v.default ?? null, description: v.description }])),
    authorization_endpoint: p.authorization_endpoint,
    token_endpoint: p.token_endpoint,
    default_scopes: p.default_scopes,
    token_endpoint_auth_method: p.token_endpoint_auth_method,
    pkce: p.pkce,
    refresh_token_rotation: p.refresh_token_rotation,
    identity: p.identity?.source ?? null,
  };
}
