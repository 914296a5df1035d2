// Phone numbers arrive as +919812345678, 919812345678, 09812345678, 9812345678, with spaces or dashes,
// and Exotel answers in 0-prefixed national form (reference §1.9). Normalise once, to E.164, and compare
// only normalised numbers.

/**
 * E.164 for an Indian mobile (6-9 then 9 digits) or a landline with its STD code (11 Delhi, 141 Jaipur,
 * 22 Mumbai, …); undefined if neither. Toll-free and shared-cost numbers (1800, 1860) are not vendors' lines.
 */
export function normalisePhone(raw: string): string | undefined {
  const compact = raw.trim().replace(/[\s\-().]/g, '');
  if (!/^\+?\d+$/.test(compact)) return undefined;
  let national: string;
  if (compact.startsWith('+')) {
    if (!compact.startsWith('+91')) return undefined;
    national = compact.slice(3);
  } else if (compact.length === 12 && compact.startsWith('91')) {
    national = compact.slice(2);
  } else if (compact.length === 11 && compact.startsWith('0')) {
    national = compact.slice(1);
  } else {
    national = compact;
  }
  // Mobiles start with 6-9; landlines with a 1-8 STD code (no leading 0 once the trunk prefix is gone).
  if (national.length !== 10 || !/^[1-9]/.test(national) || /^18[06]0/.test(national)) return undefined;
  return `+91${national}`;
}


/**
 * Whether two numbers are the same line, in whatever forms they came: E.164 when both normalise, else (an
 * ExoPhone such as a 1800 number does not) their last ten digits.
 */
export function sameNumber(a: string, b: string): boolean {
  const [x, y] = [normalisePhone(a), normalisePhone(b)];
  if (x && y) return x === y;
  const tail = (number: string) => number.replace(/\D/g, '').slice(-10);
  return tail(a) !== '' && tail(a) === tail(b);
}
