// Calling hours (reference §8: no calls before 09:00 or after 21:00 for consumers in India; Exotel does not
// enforce it). Computed in the configured time zone, never the machine's.

export interface CallingWindow {
  /** Minutes after local midnight. A window whose end is before its start runs past midnight. */
  startMinute: number;
  endMinute: number;
  timeZone: string;
}

/** "09:00-21:00" → minutes; undefined when the text is not a window. */
export function parseWindow(text: string, timeZone: string): CallingWindow | undefined {
  const match = /^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$/.exec(text.trim());
  if (!match) return undefined;
  const startMinute = Number(match[1]) * 60 + Number(match[2]);
  const endMinute = Number(match[3]) * 60 + Number(match[4]);
  if (startMinute === endMinute || endMinute > 24 * 60) return undefined;
  return { startMinute, endMinute, timeZone };
}

export function isValidTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-GB', { timeZone });
    return true;
  } catch {
    return false;
  }
}

/** `at` itself when calling is allowed then, else the instant the window next opens. */
export function nextCallableTime(at: Date, window: CallingWindow): Date {
  const local = localParts(at, window.timeZone);
  const minute = local.hour * 60 + local.minute;
  if (inside(minute, window)) return at;
  // The window opens today (later) or tomorrow, at startMinute local time.
  const today = Date.UTC(local.year, local.month - 1, local.day);
  const day = minute < window.startMinute ? today : today + 86_400_000;
  const d = new Date(day);
  return fromLocal(d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), window.startMinute, window.timeZone);
}

function inside(minute: number, { startMinute, endMinute }: CallingWindow): boolean {
  return startMinute < endMinute ? minute >= startMinute && minute < endMinute : minute >= startMinute || minute < endMinute;
}

interface Parts { year: number; month: number; day: number; hour: number; minute: number; second: number }

const formatters = new Map<string, Intl.DateTimeFormat>();
function localParts(at: Date, timeZone: string): Parts {
  let format = formatters.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-GB', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(timeZone, format);
  }
  const parts = Object.fromEntries(format.formatToParts(at).map((p) => [p.type, p.value]));
  return {
    year: Number(parts.year),
    month: Number(parts.month),
    day: Number(parts.day),
    hour: Number(parts.hour),
    minute: Number(parts.minute),
    second: Number(parts.second),
  };
}

/** The instant at which the zone's wall clock shows that date and minute (the later one across a DST gap). */
function fromLocal(year: number, month: number, day: number, minuteOfDay: number, timeZone: string): Date {
  const wall = Date.UTC(year, month - 1, day, Math.floor(minuteOfDay / 60), minuteOfDay % 60);
  let guess = wall;
  for (let i = 0; i < 3; i++) {
    const p = localParts(new Date(guess), timeZone);
    const shown = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
    guess += wall - shown;
  }
  return new Date(guess);
}
