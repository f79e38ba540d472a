/**
 * Strict JSON gate for request bodies.
 *
 * `parseStrictJson` runs a single, non-recursive O(n) scan over the text that
 * enforces RFC 8259 grammar plus Latchkey's extra rules (no duplicate keys, no
 * prototype-polluting keys, bounded nesting, well-formed UTF-16), and only then
 * hands the text to `JSON.parse`, which produces the actual value.
 *
 * Error messages carry a position or a key path at most; they never echo
 * string values from the input, since bodies may contain secrets.
 *
 * `parseStrictJsonBody` is the entry for request bodies: it decodes the bytes as
 * UTF-8 first and refuses invalid sequences instead of replacing them with
 * U+FFFD, which would store a secret other than the one the caller sent.
 */

type JsonRejectReason = 'malformed' | 'duplicate_key' | 'forbidden_key' | 'too_deep' | 'lone_surrogate' | 'invalid_utf8';

export class JsonRejected extends Error {
  constructor(
    readonly reason: JsonRejectReason,
    message: string,
  ) {
    super(message);
    this.name = 'JsonRejected';
  }
}

export const MAX_JSON_DEPTH = 32;

/** Longest key (in UTF-16 code units) that may appear in a duplicate-key message. */
const MAX_REPORTED_KEY_LENGTH = 64;

// Character codes.
const C_TAB = 0x09;
const C_LF = 0x0a;
const C_CR = 0x0d;
const C_SPACE = 0x20;
const C_QUOTE = 0x22;
const C_PLUS = 0x2b;
const C_COMMA = 0x2c;
const C_MINUS = 0x2d;
const C_DOT = 0x2e;
const C_SLASH = 0x2f;
const C_0 = 0x30;
const C_1 = 0x31;
const C_9 = 0x39;
const C_COLON = 0x3a;
const C_UPPER_E = 0x45;
const C_LBRACKET = 0x5b;
const C_BACKSLASH = 0x5c;
const C_RBRACKET = 0x5d;
const C_LOWER_B = 0x62;
const C_LOWER_E = 0x65;
const C_LOWER_F = 0x66;
const C_LOWER_N = 0x6e;
const C_LOWER_R = 0x72;
const C_LOWER_T = 0x74;
const C_LOWER_U = 0x75;
const C_LBRACE = 0x7b;
const C_RBRACE = 0x7d;

const KIND_ARRAY = 0;
const KIND_OBJECT = 1;

function malformed(what: string, pos: number): JsonRejected {
  return new JsonRejected('malformed', `${what} at position ${pos}`);
}

function unexpected(text: string, pos: number): JsonRejected {
  return pos >= text.length ? malformed('Unexpected end of input', pos) : malformed('Unexpected token', pos);
}

function hexValue(c: number): number {
  if (c >= C_0 && c <= C_9) return c - C_0;
  const lower = c | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

/** True when a key may be shown in an error message (short, no control/format-breaking characters). */
function isReportableKey(key: string): boolean {
  if (key.length > MAX_REPORTED_KEY_LENGTH) return false;
  for (let k = 0; k < key.length; k++) {
    const c = key.charCodeAt(k);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || c === 0x2028 || c === 0x2029) return false;
  }
  return true;
}

function escapePointerSegment(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

/**
 * A run of string characters needing no attention: no quote, backslash,
 * control character or surrogate. A sticky regex runs in native code and is
 * much faster than a charCodeAt loop on long runs. Only used synchronously.
 */
const STRING_RUN = /[^"\\\u0000-\u001f\ud800-\udfff]*/y;

/** Characters scanned inline before handing a string run to STRING_RUN. */
const SHORT_RUN = 16;

/** Object keys kept in a flat list (linear duplicate search) before switching to a Set. */
const KEY_LIST_LIMIT = 12;

/** Skip JSON whitespace. Callers test `c <= C_SPACE` first, as compact JSON rarely has any. */
function skipWs(text: string, i: number): number {
  let c = text.charCodeAt(i);
  while (c === C_SPACE || c === C_LF || c === C_CR || c === C_TAB) c = text.charCodeAt(++i);
  return i;
}

function loneSurrogate(start: number): JsonRejected {
  return new JsonRejected('lone_surrogate', `Lone surrogate in string at position ${start}`);
}

/** Set by scanString: whether the last scanned literal contained an escape sequence. */
let lastStringEscaped = false;

/**
 * Scan a string literal whose opening quote is at `start`. Validates escapes,
 * refuses raw control characters and checks that the unescaped value is
 * well-formed UTF-16. Returns the index just past the closing quote.
 */
function scanString(text: string, start: number): number {
  const n = text.length;
  let i = start + 1;
  let escaped = false;
  let pendingHigh = false; // the last code unit was a high surrogate awaiting its pair
  for (;;) {
    if (!pendingHigh) {
      // Short runs (typical keys) are cheaper inline; long runs go to the regex.
      const stop = i + SHORT_RUN;
      let c = text.charCodeAt(i);
      while (i < stop && c >= 0x20 && c !== C_QUOTE && c !== C_BACKSLASH && (c & 0xf800) !== 0xd800) {
        c = text.charCodeAt(++i);
      }
      if (i === stop) {
        STRING_RUN.lastIndex = i;
        STRING_RUN.test(text);
        i = STRING_RUN.lastIndex;
      }
    }
    if (i >= n) throw malformed('Unterminated string', start);
    const c = text.charCodeAt(i);
    let unit: number;
    if (c === C_QUOTE) {
      if (pendingHigh) throw loneSurrogate(start);
      lastStringEscaped = escaped;
      return i + 1;
    } else if (c === C_BACKSLASH) {
      escaped = true;
      const e = text.charCodeAt(i + 1);
      switch (e) {
        case C_QUOTE:
        case C_BACKSLASH:
        case C_SLASH:
        case C_LOWER_B:
        case C_LOWER_F:
        case C_LOWER_N:
        case C_LOWER_R:
        case C_LOWER_T:
          unit = e; // any non-surrogate will do
          i += 2;
          break;
        case C_LOWER_U: {
          const h0 = hexValue(text.charCodeAt(i + 2));
          const h1 = hexValue(text.charCodeAt(i + 3));
          const h2 = hexValue(text.charCodeAt(i + 4));
          const h3 = hexValue(text.charCodeAt(i + 5));
          if ((h0 | h1 | h2 | h3) < 0) throw malformed('Invalid escape', i);
          unit = (h0 << 12) | (h1 << 8) | (h2 << 4) | h3;
          i += 6;
          break;
        }
        default:
          throw malformed('Invalid escape', i);
      }
    } else if (c < 0x20) {
      throw malformed('Control character in string', i);
    } else {
      unit = c;
      i++;
    }
    const tag = unit & 0xfc00;
    if (pendingHigh) {
      if (tag !== 0xdc00) throw loneSurrogate(start);
      pendingHigh = false;
    } else if (tag === 0xd800) {
      pendingHigh = true;
    } else if (tag === 0xdc00) {
      throw loneSurrogate(start);
    }
  }
}

function isDigit(c: number): boolean {
  return c >= C_0 && c <= C_9;
}

/** Scan an RFC 8259 number starting at `i`; what may follow it is checked by the caller. */
function scanNumber(text: string, i: number): number {
  const start = i;
  let c = text.charCodeAt(i);
  if (c === C_MINUS) c = text.charCodeAt(++i);
  if (c === C_0) {
    c = text.charCodeAt(++i);
  } else if (c >= C_1 && c <= C_9) {
    do c = text.charCodeAt(++i);
    while (isDigit(c));
  } else {
    throw malformed('Invalid number', start);
  }
  if (c === C_DOT) {
    c = text.charCodeAt(++i);
    if (!isDigit(c)) throw malformed('Invalid number', start);
    do c = text.charCodeAt(++i);
    while (isDigit(c));
  }
  if (c === C_LOWER_E || c === C_UPPER_E) {
    c = text.charCodeAt(++i);
    if (c === C_PLUS || c === C_MINUS) c = text.charCodeAt(++i);
    if (!isDigit(c)) throw malformed('Invalid number', start);
    do c = text.charCodeAt(++i);
    while (isDigit(c));
  }
  return i;
}

function scanLiteral(text: string, i: number, word: string): number {
  if (!text.startsWith(word, i)) throw malformed('Unexpected token', i);
  return i + word.length;
}

/** Per-depth state of the open containers; entries are reused across siblings. */
interface Frames {
  kinds: number[];
  /** Object frames: key of the member being parsed. */
  currentKeys: string[];
  /** Array frames: index of the element being parsed. */
  arrayIndexes: number[];
  /** Object frames: number of keys seen so far. */
  keyCounts: number[];
  /** Object frames: the keys seen, while there are few. */
  keyLists: string[][];
  /** Object frames: the keys seen, once there are many. */
  keySets: (Set<string> | undefined)[];
}

function duplicateKeyError(frames: Frames, depth: number, key: string): JsonRejected {
  if (!isReportableKey(key)) return new JsonRejected('duplicate_key', 'duplicate key');
  let path = '';
  for (let d = 0; d < depth - 1; d++) {
    if (frames.kinds[d] === KIND_OBJECT) {
      const k = frames.currentKeys[d] ?? '';
      if (!isReportableKey(k)) return new JsonRejected('duplicate_key', 'duplicate key');
      path += '/' + escapePointerSegment(k);
    } else {
      path += '/' + String(frames.arrayIndexes[d] ?? 0);
    }
  }
  return new JsonRejected('duplicate_key', `duplicate key at ${path}/${escapePointerSegment(key)}`);
}

/**
 * Read `"key" :` (whitespace allowed before, between and after) for the
 * innermost frame, which is an object. Returns the index after the colon.
 */
function readKey(text: string, i: number, frames: Frames, depth: number): number {
  let c = text.charCodeAt(i);
  if (c <= C_SPACE) c = text.charCodeAt((i = skipWs(text, i)));
  if (c !== C_QUOTE) throw unexpected(text, i);
  const start = i;
  i = scanString(text, start);
  // An escaped literal is already validated, so JSON.parse only unescapes it.
  const key = lastStringEscaped ? (JSON.parse(text.slice(start, i)) as string) : text.slice(start + 1, i - 1);
  if (key === '__proto__' || key === 'constructor' || key === 'prototype') {
    throw new JsonRejected('forbidden_key', `Forbidden key "${key}" at position ${start}`);
  }
  const d = depth - 1;
  const count = frames.keyCounts[d] ?? 0;
  if (count < KEY_LIST_LIMIT) {
    let list = frames.keyLists[d];
    if (list === undefined) {
      list = [];
      frames.keyLists[d] = list;
    }
    for (let k = 0; k < count; k++) if (list[k] === key) throw duplicateKeyError(frames, depth, key);
    list[count] = key;
    if (count + 1 === KEY_LIST_LIMIT) frames.keySets[d] = new Set(list.slice(0, KEY_LIST_LIMIT));
  } else {
    const set = frames.keySets[d] as Set<string>;
    if (set.has(key)) throw duplicateKeyError(frames, depth, key);
    set.add(key);
  }
  frames.keyCounts[d] = count + 1;
  frames.currentKeys[d] = key;
  c = text.charCodeAt(i);
  if (c <= C_SPACE) c = text.charCodeAt((i = skipWs(text, i)));
  if (c !== C_COLON) throw unexpected(text, i);
  return i + 1;
}

function tooDeep(i: number): JsonRejected {
  return new JsonRejected('too_deep', `Nesting deeper than ${MAX_JSON_DEPTH} at position ${i}`);
}

/**
 * Parse `text` as strict JSON. Throws `JsonRejected` when the text is not
 * exactly one RFC 8259 JSON value (surrounding whitespace allowed) or violates
 * one of the extra rules.
 */
export function parseStrictJson(text: string): unknown {
  const n = text.length;
  const frames: Frames = { kinds: [], currentKeys: [], arrayIndexes: [], keyCounts: [], keyLists: [], keySets: [] };
  const { kinds, arrayIndexes, keyCounts, keySets } = frames;
  let i = 0;
  let depth = 0;
  let expectValue = true;

  for (;;) {
    let c = text.charCodeAt(i);
    if (c <= C_SPACE) c = text.charCodeAt((i = skipWs(text, i)));
    if (expectValue) {
      if (c === C_QUOTE) {
        i = scanString(text, i);
      } else if (c === C_LBRACE || c === C_LBRACKET) {
        if (depth >= MAX_JSON_DEPTH) throw tooDeep(i);
        const isObject = c === C_LBRACE;
        kinds[depth] = isObject ? KIND_OBJECT : KIND_ARRAY;
        arrayIndexes[depth] = 0;
        keyCounts[depth] = 0;
        depth++;
        c = text.charCodeAt(++i);
        if (c <= C_SPACE) c = text.charCodeAt((i = skipWs(text, i)));
        if (c === (isObject ? C_RBRACE : C_RBRACKET)) {
          depth--;
          i++;
        } else {
          if (isObject) i = readKey(text, i, frames, depth);
          continue; // expect the first value
        }
      } else if (c === C_MINUS || isDigit(c)) {
        i = scanNumber(text, i);
      } else if (c === C_LOWER_T) {
        i = scanLiteral(text, i, 'true');
      } else if (c === C_LOWER_F) {
        i = scanLiteral(text, i, 'false');
      } else if (c === C_LOWER_N) {
        i = scanLiteral(text, i, 'null');
      } else {
        throw unexpected(text, i);
      }
      expectValue = false;
      continue;
    }

    // After a complete value: a separator, a closer, or the end of the text.
    if (depth === 0) {
      if (i < n) throw malformed('Unexpected token', i);
      break;
    }
    const d = depth - 1;
    if (c === C_COMMA) {
      if (kinds[d] === KIND_OBJECT) i = readKey(text, i + 1, frames, depth);
      else {
        arrayIndexes[d] = (arrayIndexes[d] ?? 0) + 1;
        i++;
      }
      expectValue = true;
    } else if (c === (kinds[d] === KIND_OBJECT ? C_RBRACE : C_RBRACKET)) {
      depth = d;
      keySets[d] = undefined; // release a large key set early
      i++;
    } else {
      throw unexpected(text, i);
    }
  }

  try {
    return JSON.parse(text) as unknown;
  } catch {
    // Unreachable if the scanner is correct; never surface JSON.parse's message (it can quote input).
    throw new JsonRejected('malformed', 'Malformed JSON');
  }
}

/**
 * Decodes with the platform's fatal decoder: an invalid byte sequence (a lone continuation byte,
 * an overlong form, an encoded surrogate, a truncated sequence) throws instead of becoming
 * U+FFFD. `ignoreBOM` keeps a byte order mark in the text, where the scanner refuses it as
 * before (RFC 8259 §8.1: a sender must not add one).
 */
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Parse a request body's bytes: strict UTF-8, then strict JSON. */
export function parseStrictJsonBody(body: Uint8Array): unknown {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw new JsonRejected('invalid_utf8', 'Body is not valid UTF-8');
  }
  return parseStrictJson(text);
}
