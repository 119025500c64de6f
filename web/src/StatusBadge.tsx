/** A coloured badge for a disk status or a path state. */
import type { DiskStatus, PathState } from './api';

interface StatusBadgeProps {
  status: DiskStatus | PathState;
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
