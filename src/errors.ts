// The error catalogue: stable codes that tests and API clients assert, never message text (as fastify's
// FST_ERR_* catalogue does). EXOTEL_ERR_* come from talking to Exotel, IVR_ERR_* from our own API.
import createError from '@fastify/error';

export const IvrValidationError = createError<[string]>('IVR_ERR_VALIDATION', '%s', 400);
export const IvrUnauthorizedError = createError('IVR_ERR_UNAUTHORIZED', 'Missing or invalid bearer token', 401);
export const IvrNotFoundError = createError<[string]>('IVR_ERR_NOT_FOUND', '%s', 404);
export const IvrForbiddenError = createError('IVR_ERR_BAD_SIGNATURE', 'Missing or invalid URL signature', 403);

/** Exotel answered with a RestException (4xx): final, the reason is Exotel's message. */
export const ExotelRestError = createError<[string]>('EXOTEL_ERR_REST', 'Exotel refused the request: %s', 502);
/** Exotel answered 429. */
export const ExotelRateLimitedError = createError('EXOTEL_ERR_RATE_LIMITED', 'Exotel rate limit reached', 503);
/** Exotel answered 5xx: nothing was created. */
export const ExotelServerError = createError<[number]>('EXOTEL_ERR_SERVER', 'Exotel is failing (HTTP %s)', 502);
/** No answer in time after the request was sent: the call may or may not exist. */
export const ExotelTimeoutError = createError('EXOTEL_ERR_TIMEOUT', 'Exotel did not answer in time; the call may have been placed', 504);
/** The request never reached Exotel (refused, DNS): nothing was created. */
export const ExotelUnreachableError = createError<[string]>('EXOTEL_ERR_UNREACHABLE', 'Exotel is unreachable: %s', 503);
/** A 2xx whose body we could not read. */
export const ExotelBadResponseError = createError<[string]>('EXOTEL_ERR_BAD_RESPONSE', 'Unexpected answer from Exotel: %s', 502);

/**
 * After these a Connect may have created the call: a timeout, an unreadable 2xx, or a 5xx that may come from
 * a gateway after Exotel created it (DESIGN §5). The call is looked up, never dialled blindly (calls/verify.ts).
 */
export const AMBIGUOUS_CONNECT_ERRORS: readonly string[] = ['EXOTEL_ERR_TIMEOUT', 'EXOTEL_ERR_BAD_RESPONSE', 'EXOTEL_ERR_SERVER'];

export type ExotelError =
  | InstanceType<typeof ExotelRestError>
  | InstanceType<typeof ExotelRateLimitedError>
  | InstanceType<typeof ExotelServerError>
  | InstanceType<typeof ExotelTimeoutError>
  | InstanceType<typeof ExotelUnreachableError>
  | InstanceType<typeof ExotelBadResponseError>;

/** The HTTP status our API answers for an Exotel failure by its code, so a replay of that answer gives it again. */
export function statusOfExotelError(code: string): number | undefined {
  return EXOTEL_ERRORS().find((error) => error.code === code)?.statusCode;
}
let exotelErrors: ExotelError[] | undefined;
const EXOTEL_ERRORS = () =>
  (exotelErrors ??= [new ExotelRestError(''), new ExotelRateLimitedError(), new ExotelServerError(0), new ExotelTimeoutError(), new ExotelUnreachableError(''), new ExotelBadResponseError('')]);

export function isExotelError(error: unknown): error is ExotelError {
  const code = error instanceof Error ? (error as Error & { code?: unknown }).code : undefined;
  return typeof code === 'string' && code.startsWith('EXOTEL_ERR_');
}
