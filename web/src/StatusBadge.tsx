/** A coloured badge for a disk status, a path state, a node state or an audit outcome. */
import type { AuditOutcome, DiskStatus, PathState } from './api';

export type NodeState = 'up' | 'down' | 'drained';
export type BadgeStatus = DiskStatus | PathState | NodeState | AuditOutcome;

interface StatusBadgeProps {
  status: BadgeStatus;
  testId?: string;
}

/** The text is the status value itself (e.g. "started"); CSS capitalises it for display. */
export function StatusBadge({ status, testId }: StatusBadgeProps) {
  return (
    <span className={`badge badge-${status}`} data-testid={testId} data-status={status}>
      <span className="badge-dot" aria-hidden="true" />
      {status}
    </span>
  );
}
