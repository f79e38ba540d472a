/**
 * AWS Secrets Manager, served under `/compat/aws-secretsmanager` (docs/compat.md): the JSON 1.1
 * protocol (`POST /` with `X-Amz-Target: secretsmanager.<Operation>`), Signature Version 4 with
 * an access key's AWS-style key pair, and AWS's error shapes. The AWS SDK's `endpoint` option
 * points here. Every operation is a native service call: roles, team visibility, audit and
 * tenancy are the native ones.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { Clock } from '../../../domain/clock.js';
import type { RequestContext } from '../../../domain/principal.js';
import type { Services } from '../../../services/services.js';
import type { SigV4Failure, SigV4Verifier } from '../../../services/auth/sigv4-verifier.js';
import { parseStrictJsonBody } from '../../strict-json.js';
import { AwsError, toAwsError } from './aws-errors.js';
import { checkInput, type Operation, type OperationEnv } from './operation-kit.js';
import { readOperations } from './read-operations.js';
import { writeOperations } from './write-operations.js';

export const AWS_SECRETS_MANAGER_PREFIX = '/aws-secretsmanager';
const CONTENT_TYPE = 'application/x-amz-json-1.1';
const OPERATIONS: Record<string, Operation> = { ...readOperations, ...writeOperations };
/** Operations whose refusal is a refused reveal in the audit log (a probe of a secret). */
const REVEALING = new Set(['GetSecretValue', 'BatchGetSecretValue']);

function signatureError(f: SigV4Failure): AwsError {
  switch (f.kind) {
    case 'missing':
      return new AwsError('MissingAuthenticationTokenException', 'Missing Authentication Token');
    case 'malformed':
      return new AwsError(
        'IncompleteSignatureException',
        'The request signature does not conform to AWS standards (AWS4-HMAC-SHA256, service secretsmanager).',
      );
    case 'unknown_key':
      return new AwsError('UnrecognizedClientException', 'The security token included in the request is invalid.');
    case 'skewed':
      // AWS's wording: the SDK recognises the code, reads the server's time from the Date header and signs again.
      return new AwsError(
        'InvalidSignatureException',
        `Signature expired: ${f.signedAt} is now earlier or later than the server's clock ${f.now} by more than 5 min.`,
      );
    case 'mismatch':
      return new AwsError(
        'InvalidSignatureException',
        'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
      );
    case 'replayed':
      return new AwsError('InvalidSignatureException', 'This signature was already used: sign the request again.');
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The JSON 1.1 operation named by X-Amz-Target, once the signature was checked. */
    awsInput?: unknown;
  }
}

export function awsSecretsManagerDialect(s: Services, opts: { verifier: SigV4Verifier; clock: Clock; deletedRetentionDays: number }): FastifyPluginAsync {
  const env: OperationEnv = { s, clock: opts.clock, deletedRetentionDays: opts.deletedRetentionDays };
  return async (app) => {
    // The signature covers the body's bytes: keep them until it is checked, then parse strictly.
    app.addContentTypeParser(CONTENT_TYPE, { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

    const send = (reply: FastifyReply, status: number, body: unknown): FastifyReply =>
      reply
        .code(status)
        .header('content-type', CONTENT_TYPE)
        .header('x-amzn-requestid', reply.request.id)
        .header('cache-control', 'no-store')
        .send(JSON.stringify(body));

    app.setErrorHandler((err, request, reply) => {
      const e = toAwsError(err);
      if (e.status >= 500) {
        const frames = ((err as Error)?.stack ?? '').split('\n').slice(1, 8).join('\n');
        request.log.error({ reqId: request.id, err: { type: (err as Error)?.name, code: (err as { code?: string })?.code, frames } }, 'request failed');
      }
      recordRefusal(request, e);
      return send(reply.header('x-amzn-errortype', e.type), e.status, { __type: e.type, message: e.message });
    });
    app.setNotFoundHandler((_request, reply) =>
      send(reply, 404, { __type: 'UnknownOperationException', message: 'Only POST / with X-Amz-Target is served here.' }),
    );

    /** Refused reveals are audit events, as on native reveal routes (AWS answers them 400, not 403/404). */
    function recordRefusal(request: FastifyRequest, e: AwsError): void {
      const target = String(request.headers['x-amz-target'] ?? '').replace(/^secretsmanager\./, '');
      const ctx = (request.ctx as RequestContext | undefined) ?? null;
      const denied = e.type === 'AccessDeniedException';
      if (!ctx || !REVEALING.has(target) || !(denied || e.type === 'ResourceNotFoundException')) return;
      s.audit.recordRefused({
        ctx,
        outcome: denied ? 'denied' : 'not_found',
        action: 'credential.reveal',
        target: null,
        requestId: request.id,
        ip: request.ip,
        userAgent: request.headers['user-agent'] ?? '',
        method: 'POST',
        route: `/compat${AWS_SECRETS_MANAGER_PREFIX}/ ${target}`,
        params: {},
      });
    }

    app.post(
      '/',
      {
        config: { public: true },
        schema: {
          tags: ['dialect: aws-secretsmanager'],
          summary: 'AWS Secrets Manager JSON 1.1 (X-Amz-Target: secretsmanager.<Operation>), SigV4-signed',
          description: `Operations: ${Object.keys(OPERATIONS).join(', ')}. Request and answer bodies are AWS's (docs/compat.md).`,
          headers: Type.Object({ 'x-amz-target': Type.String({ pattern: '^secretsmanager\\.[A-Za-z]+$' }) }),
        },
        preHandler: async (request) => {
          // Another content type was parsed by another parser: its bytes are gone, so it could not be checked.
          if (request.headers['content-type']?.split(';')[0]?.trim() !== CONTENT_TYPE)
            throw new AwsError('SerializationException', `Content-Type must be ${CONTENT_TYPE}.`);
          const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
          const [path = '/', search = ''] = request.url.split('?', 2);
          const query: Record<string, string | string[]> = {};
          for (const [k, v] of new URLSearchParams(search)) query[k] = k in query ? ([] as string[]).concat(query[k] as string | string[], v) : v;
          const result = await opts.verifier.verify({ method: request.method, rawPath: path, query, headers: request.headers, body: raw });
          if (!result.ok) {
            if (result.failure.kind === 'unknown_key' || result.failure.kind === 'mismatch') {
              s.recordFailedAuthentication(request.id, request.ip, request.headers['user-agent'] ?? '');
            }
            throw signatureError(result.failure);
          }
          request.ctx = { principal: result.principal, requestId: request.id, ip: request.ip, userAgent: request.headers['user-agent'] ?? '' };
          request.awsInput = raw.length === 0 ? {} : parseStrictJsonBody(raw);
        },
      },
      async (request, reply) => {
        const name = String(request.headers['x-amz-target']).slice('secretsmanager.'.length);
        const op = Object.hasOwn(OPERATIONS, name) ? OPERATIONS[name] : undefined;
        if (!op) throw new AwsError('UnknownOperationException', `Operation ${name} is not supported by Latchkey (docs/compat.md).`);
        const out = await op.run(env, request.ctx, checkInput(op.input, request.awsInput));
        if (op.revealsSecret) void reply.header('pragma', 'no-cache');
        return send(reply, 200, out);
      },
    );
  };
}
