import { Transform, type TransformCallback } from 'node:stream';

/** What an injected value is replaced with when a target sends it back. */
export const REDACTED = '[REDACTED]';
const REDACTED_BYTES = Buffer.from(REDACTED);

/**
 * Shorter forms are not searched: a handful of characters occurs in ordinary text by chance, and
 * replacing it would corrupt answers. A secret that short is not one worth the name.
 */
const MIN_FORM = 8;

/** The forms of the injected values, as bytes (bodies) and as the latin1 text Node makes of header bytes. */
export interface SecretForms {
  bytes: Buffer[];
  latin1: string[];
}

/** `application/x-www-form-urlencoded` (WHATWG): encodeURIComponent leaves `!'()~` alone, the form encoding does not, and writes a space as `+`. */
const formEncoded = (value: string): string =>
  encodeURIComponent(value)
    .replace(/[!'()~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replaceAll('%20', '+');

/**
 * Every form in which an injected value may come back from a target that echoes its request
 * (headers or body): as sent, URL-encoded (both the `%20` and the form `+` flavours), hex in
 * either case, and base64/base64url — also inside a larger encoded value (an echo service that
 * base64-encodes the whole request). Base64 depends on the value's byte offset modulo 3, so each
 * alignment is searched by the groups made of the value's bytes alone.
 */
export function formsOf(values: readonly string[]): SecretForms {
  const forms = new Set<string>();
  for (const value of values) {
    const raw = Buffer.from(value);
    const hex = raw.toString('hex');
    // encodeURIComponent throws on a lone surrogate; the bytes sent hold U+FFFD for it, as Buffer.from does.
    const whole = value.toWellFormed();
    forms.add(value).add(encodeURIComponent(whole)).add(formEncoded(whole)).add(hex).add(hex.toUpperCase());
    for (let pad = 0; pad < 3; pad++) {
      const bytes = pad === 0 ? raw : Buffer.concat([Buffer.alloc(pad, 0x20), raw]);
      const from = pad === 0 ? 0 : 4;
      const to = Math.floor(bytes.length / 3) * 4;
      forms.add(bytes.toString('base64').slice(from, to)).add(bytes.toString('base64url').slice(from, to));
    }
  }
  // Longest first: a longer form that contains a shorter one is replaced whole.
  const bytes = [...forms]
    .map((f) => Buffer.from(f))
    .filter((f) => f.length >= MIN_FORM)
    .sort((a, b) => b.length - a.length);
  // A header carries a form either as the UTF-8 bytes a target wrote (read back as latin1 text)
  // or as Node writes a header string: one byte per character, which reads back as the string.
  const texts = new Set([...bytes.map((f) => f.toString('latin1')), ...[...forms].filter((f) => f.length >= MIN_FORM)]);
  return { bytes, latin1: [...texts].sort((a, b) => b.length - a.length) };
}

function replaceAll(buf: Buffer, forms: readonly Buffer[]): Buffer {
  let out = buf;
  for (const form of forms) {
    let at = out.indexOf(form);
    if (at < 0) continue;
    const parts: Buffer[] = [];
    let from = 0;
    while (at >= 0) {
      parts.push(out.subarray(from, at), REDACTED_BYTES);
      from = at + form.length;
      at = out.indexOf(form, from);
    }
    parts.push(out.subarray(from));
    out = Buffer.concat(parts);
  }
  return out;
}

/** A header value as Node hands it over: each byte one latin1 character. */
export function scrubHeader(value: string, forms: SecretForms): string {
  let out = value;
  for (const form of forms.latin1) if (out.includes(form)) out = out.replaceAll(form, REDACTED);
  return out;
}

/** An answer longer than the proxy passes on. */
export class AnswerTooLarge extends Error {}

/**
 * Streams a response body with every form replaced, counting the bytes received and failing past
 * `maxBytes`. A form split across two chunks is caught by holding back the last (longest form − 1)
 * bytes until the next chunk or the end.
 */
export class SecretScrubber extends Transform {
  /** Bytes received from the target so far. */
  bytes = 0;
  private carry: Buffer | null = null;
  private readonly hold: number;

  constructor(
    private readonly forms: readonly Buffer[],
    private readonly maxBytes: number,
  ) {
    super();
    this.hold = forms.reduce((m, f) => Math.max(m, f.length - 1), 0);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.maxBytes) {
      callback(new AnswerTooLarge());
      return;
    }
    if (this.hold === 0) {
      callback(null, chunk);
      return;
    }
    const text = replaceAll(this.carry === null ? chunk : Buffer.concat([this.carry, chunk]), this.forms);
    const cut = Math.max(0, text.length - this.hold);
    // A copy: the held bytes must not pin the chunk they came in.
    this.carry = Buffer.from(text.subarray(cut));
    callback(null, cut > 0 ? text.subarray(0, cut) : undefined);
  }

  override _flush(callback: TransformCallback): void {
    callback(null, this.carry === null ? undefined : replaceAll(this.carry, this.forms));
  }
}
