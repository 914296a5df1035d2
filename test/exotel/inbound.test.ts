// What Exotel sends, read field by field (reference §3.3, §5.1): the variants and repeats each reader takes.
import { describe, expect, it } from 'vitest';
import { agentLegStatus, exotelParams, statusReport } from '../../src/exotel/inbound.js';

describe('reading Exotel fields', () => {
  it("the agent leg's end from a repeated CallType whose first value is empty, as every other field", () => {
    expect(agentLegStatus(exotelParams({}, { CallType: ['', 'incomplete'] }))).toBe('no-answer');
    expect(agentLegStatus(exotelParams({ CallType: '' }, { CallType: 'completed' }))).toBe('completed');
    expect(agentLegStatus(exotelParams({}, { CallType: ['', 'call-attempt'] }))).toBeUndefined();
  });

  it("a leg is read at its own number: Legs[1] alone gives no leg 0 (the vendor's)", () => {
    expect(statusReport(exotelParams({}, { 'Legs[1][OnCallDuration]': '30', 'Legs[1][Status]': 'completed' })).legs).toEqual([{}, { onCallDuration: 30, status: 'completed' }]);
    expect(statusReport(exotelParams({}, { Legs: [{ OnCallDuration: 12 }] })).legs).toEqual([{ onCallDuration: 12 }]);
  });
});

describe('repeated keys', () => {
  it('are numbered past literal key[n] fields, never over them, and past the ninth only counted', () => {
    expect(exotelParams({ Digits: 'a' }, { 'Digits[2]': 'literal', Digits: ['b', 'c'] })).toEqual({ Digits: 'a', 'Digits[1]': 'b', 'Digits[2]': 'literal', 'Digits[3]': 'c' });
    // Literal names up to the last one read take the room: the repeats after them are counted, not stored.
    const literals = Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`Digits[${i + 1}]`, String(i + 1)]));
    const params = exotelParams({}, { ...literals, Digits: Array.from({ length: 12_000 }, () => '7') });
    expect(Object.keys(params)).toHaveLength(3002);
    expect([params.Digits, params['Digits[8]'], params['Digits[3000]'], params.repeats_dropped]).toEqual(['7', '8', '3000', '11999']);
  });
});
