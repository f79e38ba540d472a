import { h } from './dom.js';

/** One message carried to the next page shown ("Saved.", "Connected."), then dropped. */
let pending: { text: string; bad: boolean } | null = null;

export function flash(text: string, bad = false): void {
  pending = { text, bad };
}

export function takeFlash(): HTMLElement | null {
  const p = pending;
  pending = null;
  return p ? h('p', { class: `notice${p.bad ? ' error' : ''}`, id: 'notice', role: 'status' }, p.text) : null;
}
