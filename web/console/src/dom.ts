/**
 * Elements built with text nodes only: nothing the server or a person typed is ever parsed as
 * HTML (no innerHTML anywhere), so a credential named `<img src=x onerror=…>` shows as those
 * characters and runs nothing.
 */
type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | boolean | ((e: Event) => void) | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (typeof value === 'function') el.addEventListener(name.slice(2).toLowerCase(), value);
    else if (value === true) el.setAttribute(name, '');
    else el.setAttribute(name, value);
  }
  append(el, children);
  return el;
}

export function append(el: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

/** Replaces what the page's main area shows and moves focus there (keyboard and screen readers follow). */
export function show(...children: Child[]): void {
  const main = document.getElementById('main');
  if (!main) return;
  main.replaceChildren();
  append(main, children);
  main.focus();
}

export function when(iso: string | null): string {
  if (iso === null) return '—';
  return iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC');
}

/** "First page" (when on a later one) and "Next page" links of a cursor-paged list at `#/<route>`, its filters kept. */
export function pager(route: string, params: URLSearchParams, nextCursor: string | null): HTMLElement {
  const el = h('div', { class: 'pager' });
  if (params.get('cursor')) {
    const first = new URLSearchParams(params);
    first.delete('cursor');
    el.append(h('a', { href: `#/${route}?${first}` }, 'First page'));
  }
  if (nextCursor !== null) {
    const next = new URLSearchParams(params);
    next.set('cursor', nextCursor);
    el.append(h('a', { href: `#/${route}?${next}`, rel: 'next' }, 'Next page'));
  }
  return el;
}
