/**
 * Starts tgtds without a fork of the agent per tgtd: the starts asked for in one event-loop turn (with
 * the same argument count and environment) go to ONE `xargs -0 -r -P 0 -n <argc> -- tgtd`, which starts
 * them side by side. Forking the agent (a large process) blocks its event loop for each start, 50-110 ms
 * each on a loaded 2-CPU box: a cold start of 500 disks spent tens of seconds there, and a failover
 * burst stalled the agent long enough for its fence guard to fence it.
 *
 * `-r`: xargs that reads no arguments (the agent died between starting it and writing them) starts
 * nothing. Without it GNU xargs runs the command once with no arguments: a bare `tgtd` daemon on every
 * address's port 3260, outliving everyone (seen after a fault test SIGKILLed a serving process).
 *
 * xargs is the tgtds' parent (it reaps them; they outlive it, being daemons of their own session).
 * launch() resolves with xargs's pid: the driver finds its tgtd among xargs's children by command line
 * (or, once xargs is gone, by the control port's lock). Output of the tgtds goes to one log file.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { setPriority } from 'node:os';
import type { Logger } from 'pino';
import { TurnBatcher } from '../../util/async.js';

interface Start {
  args: string[];
}

/** xargs's arguments: NUL-separated input, nothing run on none (-r), every start at once, argc arguments per tgtd. */
export function starterArgs(argc: number, tgtd: string): string[] {
  return ['-0', '-r', '-P', '0', '-n', String(argc), '--', tgtd];
}

export class TgtdLauncher {
  private readonly batches = new Map<string, TurnBatcher<Start, number>>();

  constructor(
    private readonly tgtd: string,
    private readonly logFile: string,
    private readonly log: Logger,
    /** nice value for the tgtds (undefined: the agent's own) */
    private readonly nice: () => number | undefined = () => undefined,
  ) {}

  /** Starts `tgtd ARGS` with `env`; resolves with the pid of the xargs that starts it, once it has the arguments. */
  launch(args: string[], env: NodeJS.ProcessEnv, envKey: string): Promise<number> {
    for (const a of args) if (a.includes('\0') || a === '') throw new Error('a tgtd argument is empty or holds a NUL');
    const key = `${args.length}|${envKey}`;
    let b = this.batches.get(key);
    if (!b) {
      b = new TurnBatcher<Start, number>((items) => this.run(items, env));
      this.batches.set(key, b);
    }
    return b.add({ args });
  }

  private async run(items: Start[], env: NodeJS.ProcessEnv): Promise<number[]> {
    const n = items[0]?.args.length ?? 0;
    const fd = openSync(this.logFile, 'a');
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn('xargs', starterArgs(n, this.tgtd), { detached: true, stdio: ['pipe', fd, fd], env });
    } finally {
      closeSync(fd);
    }
    await new Promise<void>((resolve, reject) => {
      child.once('error', (e) => {
        this.log.error({ err: e.message }, 'tgtd starter (xargs) could not be started');
        reject(e);
      });
      child.once('spawn', () => resolve());
    });
    // The agent may run at a raised priority (agent/priority.ts): tgtds run at the ordinary one.
    // xargs waits for its arguments on stdin, so it is lowered before it starts any tgtd.
    const nice = this.nice();
    if (nice !== undefined && child.pid !== undefined) {
      try {
        setPriority(child.pid, nice);
      } catch (e) {
        this.log.warn({ err: (e as Error).message }, 'cannot lower the tgtd starter priority');
      }
    }
    child.stdin?.on('error', () => {}); // xargs gone before reading: its tgtds are not found, and reported
    child.stdin?.end(items.flatMap((i) => i.args.map((a) => `${a}\0`)).join(''));
    child.unref();
    const pid = child.pid as number;
    return items.map(() => pid);
  }
}
