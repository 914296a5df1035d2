// Which earlier dials of ours a Calls-list lookup counts before this attempt's call (calls/verify.ts): the
// window must start where no earlier dial is near, since Exotel's clock is not ours and its list filters
// whole seconds. Every earlier dial is then either well inside (listed, and counted) or well outside.
import { describe, expect, it } from 'vitest';
import { windowStart } from '../../src/calls/verify.js';

const T = Date.parse('2026-11-23T06:00:00.800Z');
const s = (seconds: number) => T + seconds * 1000;

describe('the lookup window after an unclear Connect', () => {
  it.each([
    ['no earlier dial', [], s(-60)],
    // Far enough out that no clock can bring it in.
    ['an earlier dial well before the window', [s(-80)], s(-60)],
    ['an earlier dial well inside it', [s(-30)], s(-60)],
    // Near the start, either side: taken in with a margin, so a clock seconds off still lists it.
    ['an earlier dial 59 s before', [s(-59)], s(-59 - 15) - 1],
    ['an earlier dial 60.5 s before', [s(-60.5)], s(-60.5 - 15) - 1],
    // One taken in brings the next near: a chain is followed back.
    ['a chain of them', [s(-59), s(-80), s(-120)], s(-80 - 15) - 1],
  ])('%s', (_name, unnamed, expected) => {
    const start = windowStart(unnamed, T);
    expect(start).toBe(expected);
    for (const at of unnamed) expect(at >= start + 15_000 || at < start - 15_000, new Date(at).toISOString()).toBe(true);
  });
});
