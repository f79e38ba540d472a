/**
 * Other secrets managers' APIs (docs/compat.md): AWS Secrets Manager and Vault KV v2, so their
 * official clients work against Latchkey with only their endpoint changed. Like the dialects of
 * src/http/dialects/, they call the native services and never the store. Register under `/compat`.
 */
import type { FastifyPluginAsync } from 'fastify';
import { systemClock, type Clock } from '../../domain/clock.js';
import type { Services } from '../../services/services.js';
import { AWS_SECRETS_MANAGER_PREFIX, awsSecretsManagerDialect } from './aws-secretsmanager/index.js';
import { VAULT_PREFIX, vaultDialect } from './vault/index.js';

export function compatRoutes(services: Services, opts: { deletedRetentionDays: number; clock?: Clock }): FastifyPluginAsync {
  const clock = opts.clock ?? systemClock;
  return async (app) => {
    await app.register(awsSecretsManagerDialect(services, { verifier: services.sigv4, clock, deletedRetentionDays: opts.deletedRetentionDays }), {
      prefix: AWS_SECRETS_MANAGER_PREFIX,
    });
    await app.register(vaultDialect(services, clock), { prefix: VAULT_PREFIX });
  };
}
