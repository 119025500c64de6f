/** The cluster's health now: OK, or the problems (node down, disk degraded, path failed), worst first. */
import type { HealthView } from './api';
import { Link } from './router';

const TEXT = { ok: 'Healthy', warning: 'Warning', critical: 'Critical' } as const;

export function HealthSummary({ health, linkToEvents }: { health: HealthView | undefined; linkToEvents?: boolean }) {
  if (!health) return null;
  const problems = [...health.problems].sort((a, b) => (a.severity === b.severity ? 0 : a.severity === 'critical' ? -1 : 1));
  return (
    <section className={`card card-pad health health-${health.status}`} aria-labelledby="health-h" data-testid="health-summary" data-status={health.status}>
      <h2 id="health-h" className="card-title">
        Health: {TEXT[health.status]}
        <span className="muted">
          {' '}
          · {health.nodesUp} of {health.nodesKnown} nodes up
        </span>
      </h2>
      {problems.length === 0 ? (
        <p className="muted">Nothing is wrong: every node is up and every disk is served as asked.</p>
      ) : (
        <ul className="health-problems">
          {problems.map((p) => (
            <li key={p.subject} data-testid={`problem-${p.subject}`}>
              <span className={p.severity === 'critical' ? 'badge badge-error' : 'badge badge-warning'}>{p.severity}</span> {p.message}
            </li>
          ))}
        </ul>
      )}
      {linkToEvents ? <Link to="/events">All events</Link> : null}
    </section>
  );
}
