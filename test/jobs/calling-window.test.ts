// Calling hours in the configured zone, whatever the machine's own zone is.
import { describe, expect, it } from 'vitest';
import { nextCallableTime, parseWindow } from '../../src/jobs/calling-window.js';

const ist = parseWindow('09:00-21:00', 'Asia/Kolkata')!;

describe('nextCallableTime', () => {
  it.each([
    // [instant (UTC), expected (UTC)]: IST is UTC+05:30
    ['2026-11-22T03:30:00.000Z', '2026-11-22T03:30:00.000Z'], // 09:00 IST: open
    ['2026-11-22T03:29:59.000Z', '2026-11-22T03:30:00.000Z'], // 08:59:59 IST: wait a second
    ['2026-11-22T15:29:00.000Z', '2026-11-22T15:29:00.000Z'], // 20:59 IST: still open
    ['2026-11-22T15:30:00.000Z', '2026-11-23T03:30:00.000Z'], // 21:00 IST: tomorrow 09:00
    ['2026-11-22T20:00:00.000Z', '2026-11-23T03:30:00.000Z'], // 01:30 IST next day: that morning
    ['2026-12-31T18:45:00.000Z', '2027-01-01T03:30:00.000Z'], // 00:15 IST on new year's day
  ])('%s → %s', (at, expected) => {
    expect(nextCallableTime(new Date(at), ist).toISOString()).toBe(expected);
  });

  it('does not depend on the machine zone', () => {
    const before = process.env.TZ;
    process.env.TZ = 'America/New_York';
    try {
      expect(nextCallableTime(new Date('2026-11-22T15:30:00.000Z'), ist).toISOString()).toBe('2026-11-23T03:30:00.000Z');
    } finally {
      process.env.TZ = before;
    }
  });

  it('handles a zone with daylight saving and a window past midnight', () => {
    const london = parseWindow('22:00-02:00', 'Europe/London')!;
    // 2026-03-29: clocks go from 01:00 GMT to 02:00 BST. At 12:00 BST the window opens at 22:00 BST = 21:00 UTC.
    expect(nextCallableTime(new Date('2026-03-29T11:00:00.000Z'), london).toISOString()).toBe('2026-03-29T21:00:00.000Z');
    expect(nextCallableTime(new Date('2026-03-29T23:30:00.000Z'), london).toISOString()).toBe('2026-03-29T23:30:00.000Z');
  });

  it.each(['9-21', '09:00-09:00', '25:00-26:00', '09:00 - 21:00x'])('rejects the window %j', (text) => {
    expect(parseWindow(text, 'Asia/Kolkata')).toBeUndefined();
  });
});
