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
