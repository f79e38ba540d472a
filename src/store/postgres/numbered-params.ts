/**
 * The shared list SQL (`../queries.ts`) is written once with `?` placeholders; PostgreSQL wants
 * `$1..$n`. Only a `?` outside string literals, quoted identifiers and comments is a placeholder:
 * the shared SQL holds literals such as `'GLOBAL'` and `ESCAPE '\'`, and a naive replace would
 * one day number a `?` inside one of them.
 *
 * Assumes `standard_conforming_strings = on` (the default since PostgreSQL 9.1): in `'...'` a
 * backslash is an ordinary character, so `'\'` is a complete literal. `E'...'` strings, where a
 * backslash does escape, are handled too.
 */
export function numberParams(sql: string): { text: string; count: number } {
  let out = '';
  let n = 0;
  let i = 0;
  const len = sql.length;
  while (i < len) {
    const ch = sql[i] as string;
    const next = sql[i + 1];
    if (ch === '?') {
      n += 1;
      out += `$${n}`;
      i += 1;
    } else if (ch === "'") {
      const escapes = i > 0 && /[eE]/.test(sql[i - 1] as string) && !/[\w$]/.test(sql[i - 2] ?? ' ');
      const end = endOfQuoted(sql, i, "'", escapes);
      out += sql.slice(i, end);
      i = end;
    } else if (ch === '"') {
      const end = endOfQuoted(sql, i, '"', false);
      out += sql.slice(i, end);
      i = end;
    } else if (ch === '-' && next === '-') {
      const nl = sql.indexOf('\n', i);
      const end = nl === -1 ? len : nl;
      out += sql.slice(i, end);
      i = end;
    } else if (ch === '/' && next === '*') {
      const close = sql.indexOf('*/', i + 2);
      const end = close === -1 ? len : close + 2;
      out += sql.slice(i, end);
      i = end;
    } else {
      out += ch;
      i += 1;
    }
  }
  return { text: out, count: n };
}

/** Index just past the closing quote of the quoted run starting at `start`; a doubled quote is literal. */
function endOfQuoted(sql: string, start: number, quote: string, backslashEscapes: boolean): number {
  let i = start + 1;
  while (i < sql.length) {
    const ch = sql[i];
    if (backslashEscapes && ch === '\\') {
      i += 2;
    } else if (ch === quote) {
      if (sql[i + 1] === quote) i += 2;
      else return i + 1;
    } else {
      i += 1;
    }
  }
  throw new Error(`unterminated ${quote === "'" ? 'string literal' : 'quoted identifier'} in SQL`);
}
