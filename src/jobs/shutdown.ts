// A deploy (SIGTERM) must neither cut a vendor off mid-answer nor ring one as the server goes away. From the
// first moment of close nothing new is dialled: the scheduler stops dialling (lookups and outcome deliveries
// go on) and the trigger only queues. Every route keeps answering (Fastify's return503OnClosing is off) while
// the calls on the line finish, up to SHUTDOWN_DRAIN_SECONDS; only then does the server stop listening.
import type { CallDeps } from '../calls/deps.js';
import type { Scheduler } from './scheduler.js';

export class Shutdown {
  /** True once close began: the trigger stores calls without dialling them (the next start dials them). */
  stopping = false;
  /** When the drain gives up on calls still on the line (ms since the epoch, real time); Infinity before. */
  deadline = Number.POSITIVE_INFINITY;

  constructor(
    private readonly deps: CallDeps,
    private readonly scheduler: Scheduler,
  ) {}

  /** A preClose hook: stop dialling, then wait while any call is on the line, until the deadline. */
  async drain(): Promise<void> {
    this.stopping = true;
    this.scheduler.stopDialling();
    const seconds = this.deps.config.jobs.shutdownDrainSeconds;
    this.deadline = Date.now() + seconds * 1000;
    let calls = this.onTheLine();
    if (calls === 0) return;
    this.deps.log.info({ calls, drain_seconds: seconds }, 'shutting down: nothing new is dialled; waiting for calls on the line to end');
    while (calls > 0 && Date.now() < this.deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      calls = this.onTheLine();
    }
    if (calls > 0) this.deps.log.warn({ calls }, 'shutting down: SHUTDOWN_DRAIN_SECONDS passed with calls still on the line');
  }

  private onTheLine(): number {
    // A dial that left longer ago than it can ring and last has ended, whatever its row says.
    const { ringTimeoutSeconds, timeLimitSeconds } = this.deps.config.exotel;
    try {
      return this.deps.store.onTheLine(new Date(this.deps.now().getTime() - (ringTimeoutSeconds + timeLimitSeconds) * 1000));
    } catch (error) {
      // The database is what failed: nothing to wait for that we could see; the stop goes on.
      this.deps.log.error({ err: error }, 'shutting down: cannot read the calls on the line; not waiting for them');
      return 0;
    }
  }
}
