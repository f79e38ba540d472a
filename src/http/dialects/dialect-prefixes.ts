/** Each dialect's base path under `/compat` (docs/dialects.md). */
export const DIALECT_PREFIXES = {
  serviceCredentials: '/service-credentials',
  userCredentials: '/user-credentials',
  accountCredentials: '/account-credentials',
  integrationCredentials: '/integration-credentials',
  integrationMetadata: '/integration-metadata',
} as const;
