/** An in-memory TargetDriver for agent unit tests (no tgtd): records what is served where. */
import type { TargetDriver, TargetSpec, TargetUnit } from '../../src/adapters/tgt/types.js';

export class FakeTarget implements TargetDriver {
  /** disk id -> its spec and portals. */
  readonly units_ = new Map<string, { spec: TargetSpec; portals: string[] }>();
  /** Every call, in order: `serve <disk> <ip,ip>`, `unserve <key>`, `sweep <ips>`. */
  readonly calls: string[] = [];
  private closed = false;

  async serve(disk: string, spec: TargetSpec, portals: readonly string[]): Promise<void> {
    if (this.closed) throw new Error('the target driver is stopping');
    const sorted = [...portals].sort();
    this.calls.push(`serve ${disk} ${sorted.join(',')}`);
    this.units_.set(disk, { spec, portals: sorted });
  }

  /** disk -> the problem check() reports (a test breaks a target behind the agent's back). */
  readonly broken = new Map<string, string>();

  async check(disk: string, _spec: TargetSpec, portals: readonly string[]): Promise<string | undefined> {
    this.calls.push(`check ${disk}`);
    const u = this.units_.get(disk);
    if (!u) return 'not served';
    if (this.broken.has(disk)) return this.broken.get(disk);
    return portals.every((ip) => u.portals.includes(ip)) ? undefined : 'a portal is missing';
  }

  async unserve(key: string): Promise<void> {
    this.calls.push(`unserve ${key}`);
    this.units_.delete(key);
  }

  async units(): Promise<TargetUnit[]> {
    return [...this.units_].map(([disk, u]) => ({ key: disk, disk, ip: u.portals[0] ?? '', portals: [...u.portals], pid: -1, controlPort: 0, alive: true }));
  }

  async killUnrecorded(ips: ReadonlySet<string>): Promise<{ pid: number; ip: string }[]> {
    this.calls.push(`sweep ${[...ips].sort().join(',')}`);
    return [];
  }

  /** The last pool size asked for (warm()). */
  warmWanted = 0;

  async warm(n: number): Promise<void> {
    this.warmWanted = n;
  }

  close(): void {
    this.closed = true;
  }

  async stopAll(): Promise<void> {
    for (const k of [...this.units_.keys()]) await this.unserve(k);
  }

  /** Every portal IP served, sorted. */
  portals(): string[] {
    return [...this.units_.values()].flatMap((u) => u.portals).sort();
  }
}
