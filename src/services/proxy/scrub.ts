import { Transform, type TransformCallback } from 'node:stream';

/** What an injected value is replaced with when a target sends it back. */
export const REDACTED = '[REDACTED]';

/**
 * Shorter forms are not searched: a handful of characters occurs in ordinary text by chance, and
 * replacing it would corrupt answers. A secret that short is not one worth the name.
 */
const MIN_FORM = 8;

/**
 * Every form in which an injected value may come back from a target that echoes its request
 * (headers or body): as sent, URL-encoded (both the `%20` and the form `+` flavours), hex in
 * either case, and base64/base64url — also inside a larger encoded value (an echo service that
 * base64-encodes the whole request). Base64 depends on the value's byte offset modulo 3, so each
 * alignment is searched by the groups made of the value's bytes alone.
 */
export function formsOf(values: readonly string[]): Buffer[] {
  const forms = new Set<string>();
  for (const value of values) {
    const raw = Buffer.from(value);
    const hex = raw.toString('hex');
    forms
      .add(value)
      .add(encodeURIComponent(value))
      .add(new URLSearchParams({ v: value }).toString().slice(2))
      .add(hex)
      .add(hex.toUpperCase());
    for (let pad = 0; pad < 3; pad++) {
      const bytes = Buffer.concat([Buffer.alloc(pad, 0x20), raw]);
      const from = Math.ceil(pad / 3) * 4;
      const to = Math.floor(bytes.length / 3) * 4;
      forms.add(bytes.toString('base64').slice(from, to)).add(bytes.toString('base64url').slice(from, to));
    }
  }
  // Longest first: a longer form that contains a shorter one is replaced whole.
  return [...forms]
    .filter((f) => f.length >= MIN_FORM)
    .sort((a, b) => b.length - a.length)
    .map((f) => Buffer.from(f));
}

function replaceAll(buf: Buffer, forms: readonly Buffer[]): Buffer {
  let out = buf;
  for (const form of forms) {
    let at = out.indexOf(form);
    if (at < 0) continue;
    const parts: Buffer[] = [];
    let from = 0;
    while (at >= 0) {
      parts.push(out.subarray(from, at), Buffer.from(REDACTED));
      from = at + form.length;
      at = out.indexOf(form, from);
    }
    parts.push(out.subarray(from));
    out = Buffer.concat(parts);
  }
  return out;
}

export function scrubText(text: string, forms: readonly Buffer[]): string {
  return forms.length === 0 ? text : replaceAll(Buffer.from(text), forms).toString();
}

/**
 * Streams a response body with every form replaced. A form split across two chunks is caught by
 * holding back the last (longest form − 1) bytes until the next chunk or the end.
 */
export class SecretScrubber extends Transform {
  private carry = Buffer.alloc(0);
  private readonly hold: number;

  constructor(private readonly forms: readonly Buffer[]) {
    super();
    this.hold = forms.reduce((m, f) => Math.max(m, f.length - 1), 0);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const text = replaceAll(Buffer.concat([this.carry, chunk]), this.forms);
    const cut = Math.max(0, text.length - this.hold);
    this.carry = Buffer.from(text.subarray(cut));
    callback(null, cut > 0 ? text.subarray(0, cut) : undefined);
  }

  override _flush(callback: TransformCallback): void {
    callback(null, replaceAll(this.carry, this.forms));
  }
}
