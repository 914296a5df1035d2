// The one loop that works every row with a due time: calls waiting to be dialled (queue, retry, redial),
// ambiguous Connects to verify, calls waiting for a final status, and outcomes waiting for the backend.
// Nothing lives only in memory: a restart finds the same rows and carries on.
import { STITCHED_KEEP_MS } from '../audio/clip-library.js';
import { backoffMs, type CallDeps } from '../calls/deps.js';
import { dispatch } from '../calls/dispatch.js';
import { verify } from '../calls/verify.js';
import type { OutboxRecord } from '../store/outbox.js';
import { deliver } from './outcome-delivery.js';
import { reconcile } from './reconciler.js';
import { nextCallableTime } from './calling-window.js';

// Dials, verifies and lookups; outcome deliveries have a budget of their own, so a backend that accepts
// connections and never answers cannot hold back the vendors' calls.
const MAX_IN_FLIGHT = 16;
const MAX_DELIVERIES = 8;
// Lookups that only fill a settled call's duration take at most this many of the 16.
const MAX_FILLS = 4;
// Calls whose late keys' grace is over, settled per tick (no Exotel request: a batch takes milliseconds).
const GRACE_BATCH = 50;
const PRUNE_EVERY_MS = 10 * 60_000;
const STALE_CHECK_EVERY_MS = 60_000;

export class Scheduler {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  /** False once shutdown began: nothing new is dialled; lookups and outcome deliveries go on. */
  private dialling = true;
  private readonly inFlight = new Map<string, Promise<void>>();
  private lastPrune = 0;
  private lastStaleCheck = 0;

  constructor(private readonly deps: CallDeps) {}

  /**
   * Attempts sent but never answered may have rung the vendor: verify them first. At startup, every one (the
   * process died waiting); while running, those older than a Connect can take, whose answer was lost to an
   * error after it came (a failed commit, say), so no call stays `dialing` with nothing due. Never sooner than
   * a timeout while running would ask (the client's timeout, then a backoff): a call Exotel is still creating
   * is not in its Calls list yet, and "not listed" would ring the vendor a second time.
   */
  recover(sentBy: Date = this.deps.now()): void {
    const { store, log } = this.deps;
    for (const { callId, number, requestedAt } of store.unansweredAttempts(sentBy)) {
      // Exotel's own requests may have told us the CallSid already: then the call exists; look it up.
      const sid = store.attempts(callId).find((a) => a.number === number)?.exotelCallSid;
      if (sid) {
        store.attemptPlaced(callId, number, sid, 'in-progress', this.deps.now());
        log.warn({ call_id: callId, attempt: number, call_sid: sid }, 'Connect request whose answer was never stored: the call exists, reconciling');
        continue;
      }
      const answerable = new Date(new Date(requestedAt).getTime() + this.deps.config.exotel.httpTimeoutMs + backoffMs(this.deps, 0));
      store.attemptUnknown(callId, number, 'EXOTEL_ERR_TIMEOUT', 'the Connect answer was never stored', answerable > this.deps.now() ? answerable : this.deps.now());
      log.warn({ call_id: callId, attempt: number }, 'Connect request whose answer was never stored: verifying');
    }
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.recover();
    // CALLING_WINDOW may have changed since the calls waiting for it were queued: they go when it now opens.
    const { callingWindow, redialDelaySeconds } = this.deps.config.jobs;
    const window = `${callingWindow.startMinute}-${callingWindow.endMinute} ${callingWindow.timeZone}`;
    const moved = this.deps.store.reopenWindow(window, nextCallableTime(this.deps.now(), callingWindow), redialDelaySeconds);
    if (moved > 0) this.deps.log.info({ calls: moved }, 'Calls waiting for the calling window are due when the current CALLING_WINDOW opens');
    const loop = () => {
      if (!this.running) return;
      try {
        this.tick();
      } catch (error) {
        this.deps.log.error({ err: error }, 'scheduler tick failed');
      }
      this.timer = setTimeout(loop, this.deps.config.jobs.tickMs);
    };
    loop();
  }

  /** Dials nothing from now on (a deploy has begun: a vendor rung now would reach a server going away). */
  stopDialling(): void {
    this.dialling = false;
  }

  /** Stops taking new work and waits for what is in flight (bounded by the HTTP timeouts). */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    await this.drain();
  }

  async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight.values()]);
  }

  /** Starts every due piece of work the in-flight limit allows; resolves when they have all finished. */
  tick(): Promise<void> {
    const { store, outbox } = this.deps;
    const started: Array<Promise<void>> = [];
    const running = (prefix: string) => [...this.inFlight.keys()].filter((key) => key.startsWith(prefix)).length;
    // Deliveries have a limit of their own; a grace settles without Exotel, so neither takes Exotel's room.
    const room = () => MAX_IN_FLIGHT - (this.inFlight.size - running('outbox:') - running('grace:'));
    if (room() > 0) {
      for (const call of this.dialling ? store.dueForDispatch(room()) : store.dueForVerify(room())) {
        started.push(this.run(`call:${call.id}`, () => (call.status === 'verifying' ? verify(this.deps, call.id) : dispatch(this.deps, call.id).then(() => {}))));
      }
    }
    // A late keys' grace that is over settles without asking Exotel: neither dials nor a slow Call Details
    // hold it back, so the backend hears of a vendor who pressed 1 and hung up on time.
    for (const call of store.dueForReconcile('grace', GRACE_BATCH)) started.push(this.run(`grace:${call.id}`, () => reconcile(this.deps, call)));
    if (room() > 0) {
      for (const call of store.dueForReconcile('live', room())) started.push(this.run(`reconcile:${call.id}`, () => reconcile(this.deps, call)));
    }
    // Durations only fill in a read-back: a few at a time, from their own query, so their backlog never
    // takes the rows of the calls above.
    const fills = Math.min(room(), MAX_FILLS - running('fill:'));
    if (fills > 0) {
      for (const call of store.dueForReconcile('fill', fills)) started.push(this.run(`fill:${call.id}`, () => reconcile(this.deps, call)));
    }
    const deliveryRoom = MAX_DELIVERIES - running('outbox:');
    if (deliveryRoom > 0 && this.deps.config.outcome.webhookUrl) {
      // One delivery per order at a time, so its outcomes land in the order they settled (store/outbox.ts). A
      // delivery in flight is still due: look past it, or one slow POST would keep the others from starting.
      const key = (item: OutboxRecord) => `outbox:${JSON.stringify([item.payload.order_id, item.payload.flow])}`;
      let slots = deliveryRoom;
      for (const item of outbox.due(MAX_DELIVERIES * 2)) {
        if (slots === 0) break;
        if (this.inFlight.has(key(item))) continue;
        started.push(this.run(key(item), () => deliver(this.deps, item)));
        slots--;
      }
    }
    const now = this.deps.now().getTime();
    if (now - this.lastStaleCheck > STALE_CHECK_EVERY_MS) {
      this.lastStaleCheck = now;
      // Well past the client's own timeout (and its abort a second later), no Connect answer can still come.
      this.recover(new Date(now - this.deps.config.exotel.httpTimeoutMs - 60_000));
    }
    if (now - this.lastPrune > PRUNE_EVERY_MS) {
      this.lastPrune = now;
      this.deps.ledger.prune();
      store.pruneIdempotencyKeys(24 * 3_600_000);
      started.push(
        this.run('prune:stitched-audio', async () => {
          const removed = await this.deps.clips.prune();
          if (removed > 0) this.deps.log.info({ removed, keep_days: STITCHED_KEEP_MS / 86_400_000 }, 'Stitched prompts no call has used for a while removed');
        }),
      );
    }
    return Promise.allSettled(started).then(() => {});
  }

  private run(key: string, work: () => Promise<void>): Promise<void> {
    const existing = this.inFlight.get(key);
    if (existing) return existing;
    const task = work()
      .catch((error: unknown) => this.deps.log.error({ err: error, job: key }, 'scheduled job failed'))
      .finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, task);
    return task;
  }
}
