// The scheduler's kinds of work each get their turn: a backlog of one never holds back another that is due.
import { describe, expect, it } from 'vitest';
import { storedCall } from '../helpers/calls.js';
import { startHarness } from '../helpers/harness.js';

describe('late keys behind a backlog of duration lookups', () => {
  it('a call whose late keys grace is over settles on the next tick while Call Details is slow', async () => {
    let t = new Date('2026-11-22T06:00:00.000Z').getTime();
    const h = await startHarness({ RECONCILE_BACKOFF_SECONDS: '60', LATE_KEYS_GRACE_SECONDS: '10' }, { now: () => new Date(t) });
    const details = h.app.callDeps.exotel.callDetails;
    try {
      // Exotel is slow: every Call Details request hangs.
      h.app.callDeps.exotel.callDetails = () => new Promise(() => {});
      const callback = (id: string, sid: string) =>
        h.app.inject({ method: 'POST', url: `/webhook/exotel/status?call=${id}&attempt=1`, payload: { CallSid: sid, Status: 'completed' } });
      // 20 calls settled without a duration: a lookup each is due 60 s later.
      for (let i = 0; i < 20; i++) {
        const c = storedCall(h.app.store);
        expect((await callback(c.id, c.exotelCallSid!)).statusCode).toBe(200);
      }
      t += 55_000;
      // Hung up with the menu open: it settles 10 s later, with whatever keys came in the meantime.
      const open = storedCall(h.app.store);
      expect((await h.app.inject({ method: 'GET', url: `/exoml/vendor-greeting?call=${open.id}` })).statusCode).toBe(200);
      expect((await callback(open.id, open.exotelCallSid!)).statusCode).toBe(200);
      expect(h.app.store.get(open.id)).toMatchObject({ status: 'completed', settledAt: null });
      t += 15_000;
      for (let i = 0; i < 3; i++) {
        void h.app.scheduler.tick();
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(h.app.store.get(open.id)).toMatchObject({ outcome: 'no_response', settledAt: expect.any(String) });
      expect(h.app.outbox.forCall(open.id).map((o) => o.payload.outcome)).toEqual(['no_response']);
      // And the lookups still go, four at a time.
      expect(h.app.store.dueForReconcile('fill', 100)).toHaveLength(20 - 4);
    } finally {
      h.app.callDeps.exotel.callDetails = details;
      await h.close().catch(() => {});
    }
  });
});

describe('a burst of late keys graces', () => {
  it('takes none of the room of the Call Details lookups due with it', async () => {
    let t = new Date('2026-11-22T06:00:00.000Z').getTime();
    const h = await startHarness({ LATE_KEYS_GRACE_SECONDS: '10' }, { now: () => new Date(t) });
    const details = h.app.callDeps.exotel.callDetails;
    let asked = 0;
    try {
      h.app.callDeps.exotel.callDetails = () => {
        asked++;
        return new Promise(() => {});
      };
      // 20 calls hung up with the menu open, their graces all due at once.
      for (let i = 0; i < 20; i++) {
        const c = storedCall(h.app.store);
        await h.app.inject({ method: 'GET', url: `/exoml/vendor-greeting?call=${c.id}` });
        await h.app.inject({ method: 'POST', url: `/webhook/exotel/status?call=${c.id}&attempt=1`, payload: { CallSid: c.exotelCallSid!, Status: 'completed' } });
      }
      // And one live call with no final status, its lookup due too.
      const live = storedCall(h.app.store);
      h.app.store.scheduleReconcile(live.id, new Date(t), 0);
      t += 15_000;
      void h.app.scheduler.tick();
      await new Promise((resolve) => setTimeout(resolve, 10));
      expect(asked).toBe(1);
      expect(h.app.store.dueForReconcile('grace', 100)).toEqual([]);
    } finally {
      h.app.callDeps.exotel.callDetails = details;
      await h.close().catch(() => {});
    }
  });
});
