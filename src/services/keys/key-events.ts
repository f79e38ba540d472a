import type { Clock } from '../../domain/clock.js';
import { newId } from '../../domain/ids.js';
import type { ActorRef, AuditRow } from '../../store/port.js';
import { PLATFORM_CHAIN } from '../audit/audit-service.js';

/** Called as a long job advances: `done` of `total` units (tenants, rows). */
export type Progress = (done: number, total: number) => void;

/** Who acts when an operator runs `latchkey keys …`: whoever holds the root key and the store. */
export const OPERATOR: ActorRef = { type: 'system', id: 'latchkey-keys', name: 'latchkey keys', email: null };

/** An audit event of an operator's key job: in the tenant's chain, or the platform chain when it concerns no one tenant. */
export function operatorEvent(
  clock: Clock,
  tenantId: string | null,
  action: string,
  target: { type: string; id: string | null },
  reason: string | null,
): AuditRow {
  return {
    id: newId('evt'),
    tenantId: tenantId ?? PLATFORM_CHAIN,
    at: clock.now().toISOString(),
    actor: OPERATOR,
    action,
    targetType: target.type,
    targetId: target.id,
    outcome: 'success',
    reason,
    requestId: 'cli',
    ip: '',
    userAgent: 'latchkey keys',
    seq: null,
    hash: null,
    prevHash: null,
  };
}
