import { Type, type TSchema } from 'typebox';
import { PATH_ID_PATTERN } from '../../domain/ids.js';

/**
 * Names show what they store: no control, format or bidi characters, no word mixing scripts
 * (src/domain/display-names.ts); descriptions keep line breaks but no hidden reordering.
 */
export const Name = Type.String({
  minLength: 1,
  maxLength: 200,
  format: 'display-name',
  description: 'No control, format or bidi characters; no word mixing scripts (UTS #39)',
});
export const Description = Type.String({
  maxLength: 2000,
  format: 'display-text',
  description: 'No control characters but tab and line breaks; no bidi embeddings, overrides or isolates',
});
export const PathId = Type.String({ pattern: PATH_ID_PATTERN, maxLength: 50 });
export const Slug = Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,62}$' });
export const DateTime = Type.String({ format: 'date-time', maxLength: 40, description: 'RFC 3339; a leap second (second 60) cannot be stored and is refused' });
export const NullableDateTime = Type.Union([DateTime, Type.Null()]);
/** An `allowed_hosts` entry: a name, `*.` (one label) in front, `:port` behind (services/proxy/allowed-hosts.ts). */
export const Hostname = Type.String({
  minLength: 1,
  maxLength: 259,
  pattern:
    '^(\\*\\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?$',
});

export const IdParams = Type.Object({ id: PathId }, { additionalProperties: false });

export const ErrorEnvelope = Type.Object(
  {
    error: Type.Object({
      code: Type.String(),
      message: Type.String(),
      details: Type.Optional(Type.Union([Type.String(), Type.Array(Type.Object({ path: Type.String(), message: Type.String() }))])),
      request_id: Type.String(),
    }),
  },
  { description: 'Every status >= 400 answers with this envelope.' },
);

export const PageQuery = {
  page: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000 })),
  per_page: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
  cursor: Type.Optional(Type.String({ maxLength: 512, pattern: '^[A-Za-z0-9_-]+$' })),
};

export function ListOf<T extends TSchema>(item: T) {
  return Type.Object({
    data: Type.Array(item),
    page: Type.Integer(),
    per_page: Type.Integer(),
    total: Type.Integer(),
    next_cursor: Type.Union([Type.String(), Type.Null()]),
  });
}

/** Free-form JSON object (config, metadata, secret): shape checked elsewhere (the type catalog). */
export const FreeObject = Type.Record(Type.String(), Type.Unknown());

export const errorResponses = {
  '4xx': ErrorEnvelope,
  '5xx': ErrorEnvelope,
};
