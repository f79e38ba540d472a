import type { Session } from './api.js';
import { auditLog } from './audit-log.js';
import { h, show } from './dom.js';
import { keyStatus } from './key-status.js';
import { teamPage, teamsPage } from './teams.js';

/**
 * The administration pages: teams (with members and folders), the tenant's audit log, and the
 * owner's key status. Each is offered only to a role the API lets through; a person who follows a
 * link anyway is told why there is nothing to see (the API would refuse each call too).
 */
interface AdminPage {
  href: string;
  title: string;
  allowed: (s: Session) => boolean;
  /** What the page is about, for the refusal: "Your role (viewer) cannot …". */
  needs: string;
}

const has = (p: string) => (s: Session) => s.permissions.includes(p);
const PAGES: AdminPage[] = [
  { href: '#/teams', title: 'Teams', allowed: has('teams:manage'), needs: 'manage teams' },
  { href: '#/audit', title: 'Audit log', allowed: has('audit:read'), needs: 'read the audit log' },
  { href: '#/keys', title: 'Key status', allowed: (s) => s.principal.role === 'owner', needs: "see the tenant's keys (owners only)" },
];

export const ADMIN_PATHS = /^#\/(teams|audit|keys)/;

export function adminLinks(s: Session): HTMLElement[] {
  return PAGES.filter((p) => p.allowed(s)).map((p) => h('a', { href: p.href }, p.title));
}

/** Renders the admin page at `path`, if it is one; false for any other path. */
export async function adminRoute(path: string, query: string, s: Session): Promise<boolean> {
  const [, top = '', id] = /^\/(teams|audit|keys)(?:\/(.+))?$/.exec(path) ?? [];
  const page = PAGES.find((p) => p.href === `#/${top}`);
  if (page === undefined) return false;
  if (!page.allowed(s)) {
    show(h('h1', {}, page.title), h('p', { id: 'denied', role: 'alert' }, `Your role (${s.principal.role}) cannot ${page.needs}.`));
    return true;
  }
  if (top === 'teams') await (id === undefined ? teamsPage() : teamPage(decodeURIComponent(id)));
  else if (top === 'audit') await auditLog(new URLSearchParams(query));
  else await keyStatus(s);
  return true;
}
