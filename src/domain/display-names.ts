/**
 * What a name may hold, so that what a person reads is what the server stores (UTS #39, Unicode
 * Security Mechanisms). Names (credentials, access keys, teams, folders, tenants) refuse:
 * - control (Cc), format (Cf), private-use (Co) and surrogate (Cs) characters and the line and
 *   paragraph separators (Zl, Zp). Format characters include the bidi controls that reorder what
 *   is shown (`evil\u202Egnp.exe` reads as "evilexe.png"), U+200E/U+200F, and the zero-width
 *   characters (U+200B-U+200D, U+2060, U+FEFF) that make two equal-looking names differ;
 * - a word that mixes scripts (`Pаyments` with a Cyrillic а beside a Latin `Payments`). A word is
 *   a run of letters, marks and digits; within it every letter must share one script, as UTS #39
 *   §5.2 "Highly Restrictive" defines it (Latin may join Han with Hiragana/Katakana, Bopomofo or
 *   Hangul: `Gmailのアカウント`). Words of different scripts may stand side by side
 *   (`Сбербанк API`), and names in any one script are fine (`日本語`, `Crédit Agricole`).
 * A name written wholly in another script that looks like a Latin word is not caught by this rule.
 *
 * Descriptions are free text: they keep tabs, line breaks and the bidi marks U+200E/U+200F and
 * joiners that right-to-left and Indic text need, but refuse other controls and the bidi
 * embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069).
 */

const NAME_REFUSED = /[\p{Cc}\p{Cf}\p{Co}\p{Cs}\p{Zl}\p{Zp}]/u;
const TEXT_REFUSED = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\p{Co}\p{Cs}\p{Zl}\p{Zp}]/u;
const PLAIN_ASCII = /^[\u0020-\u007e]*$/;
const WORD = /[\p{L}\p{M}\p{N}]+/gu;
/** Characters of every script (digits, punctuation, combining marks): they join any word. */
const NEUTRAL = /^[\p{scx=Zyyy}\p{scx=Zinh}]$/u;

/**
 * UTS #31 Table 4, the scripts recommended for identifiers, each with the UTS #39 §5.1 "augmented"
 * sets it belongs to (Jpan = Han + Hiragana + Katakana, Kore = Han + Hangul, Hanb = Han + Bopomofo).
 * A letter of a script not listed here may stand only in a word without letters of listed ones.
 */
const SCRIPTS: ReadonlyArray<readonly [RegExp, readonly string[]]> = (
  [
    ['Latin'],
    ['Greek'],
    ['Cyrillic'],
    ['Armenian'],
    ['Hebrew'],
    ['Arabic'],
    ['Thaana'],
    ['Devanagari'],
    ['Bengali'],
    ['Gurmukhi'],
    ['Gujarati'],
    ['Oriya'],
    ['Tamil'],
    ['Telugu'],
    ['Kannada'],
    ['Malayalam'],
    ['Sinhala'],
    ['Thai'],
    ['Lao'],
    ['Tibetan'],
    ['Myanmar'],
    ['Georgian'],
    ['Ethiopic'],
    ['Khmer'],
    ['Han', 'Jpan', 'Kore', 'Hanb'],
    ['Hiragana', 'Jpan'],
    ['Katakana', 'Jpan'],
    ['Hangul', 'Kore'],
    ['Bopomofo', 'Hanb'],
  ] satisfies [string, ...string[]][]
).map(([name, ...augmented]) => [new RegExp(`^\\p{scx=${name}}$`, 'u'), [name, ...augmented]] as const);

const CJK_SETS = new Set(['Jpan', 'Kore', 'Hanb']);

/** The scripts (augmented) a character may be written in; null = neutral; [] = an unlisted script. */
function scriptsOf(char: string): string[] | null {
  if (NEUTRAL.test(char)) return null;
  const out: string[] = [];
  for (const [re, names] of SCRIPTS) if (re.test(char)) out.push(...names);
  return out;
}

function isSingleScriptWord(word: string): boolean {
  let common: Set<string> | null = null; // scripts every non-Latin letter so far shares
  let latin = false;
  let unlisted = false;
  for (const char of word) {
    const scripts = scriptsOf(char);
    if (scripts === null) continue;
    if (scripts.length === 0) {
      unlisted = true;
      continue;
    }
    if (scripts.length === 1 && scripts[0] === 'Latin') {
      latin = true;
      continue;
    }
    common = new Set(common === null ? scripts : scripts.filter((s) => common?.has(s)));
    if (common.size === 0) return false;
  }
  if (unlisted) return common === null && !latin;
  if (common === null || !latin) return true;
  // Latin joins another script only as a part of Japanese, Korean or Chinese writing.
  return common.has('Latin') || [...common].some((s) => CJK_SETS.has(s));
}

/** True when `value` is a name a person can read as it is stored (see the rules above). */
export function isDisplayName(value: string): boolean {
  if (PLAIN_ASCII.test(value)) return true;
  if (NAME_REFUSED.test(value)) return false;
  for (const [word] of value.matchAll(WORD)) if (!isSingleScriptWord(word)) return false;
  return true;
}

/** True when free text holds no character that hides or reorders what is shown. */
export function isDisplayText(value: string): boolean {
  return !TEXT_REFUSED.test(value);
}

export const DISPLAY_NAME_MESSAGE =
  'must hold no control, format or bidi characters (such as U+202E or zero-width spaces) and no word mixing scripts (such as a Latin name with a Cyrillic letter)';
export const DISPLAY_TEXT_MESSAGE =
  'must hold no control characters other than tab and line breaks, and no bidi embedding, override or isolate (U+202A-U+202E, U+2066-U+2069)';
