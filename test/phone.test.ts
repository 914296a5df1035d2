// Phone numbers in every form Exotel and the backend use (reference §1.9), normalised once to E.164.
import { describe, expect, it } from 'vitest';
import { normalisePhone, sameNumber } from '../src/phone.js';

describe('normalisePhone', () => {
  it.each([
    ['+919812345678', '+919812345678'],
    ['919812345678', '+919812345678'],
    ['09812345678', '+919812345678'],
    ['9812345678', '+919812345678'],
    [' +91 98123-45678 ', '+919812345678'],
    ['(080) 4855 6923', '+918048556923'],
    ['08048556923', '+918048556923'],
    ['6000000000', '+916000000000'],
    // Landlines whose STD code starts with 1: Delhi, Jaipur, Chandigarh, Jalandhar.
    ['01123456789', '+911123456789'],
    ['+91 11 2345 6789', '+911123456789'],
    ['01412345678', '+911412345678'],
    ['0172-2345678', '+911722345678'],
    ['1812345678', '+911812345678'],
  ])('%s → %s', (raw, e164) => {
    expect(normalisePhone(raw)).toBe(e164);
  });

  it.each(['', '12345', '+14155550100', '0012345678', '1800123456', '01860123456', '98123456789012', '98123x5678', '+91', 'None'])('%j is not a number we dial', (raw) => {
    expect(normalisePhone(raw)).toBeUndefined();
  });
});

describe('sameNumber', () => {
  it.each([
    ['08000000000', '+918000000000', true],
    ['080 0000 0000', '918000000000', true],
    ['18001234567', '1800-123-4567', true],
    ['08000000000', '08011112222', false],
    ['18001234567', '18009999999', false],
    ['', '', false],
  ])('%j and %j: %s', (a, b, same) => {
    expect(sameNumber(a, b)).toBe(same);
  });
});
