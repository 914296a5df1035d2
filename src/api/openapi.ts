// The API documentation, generated from the same zod schemas that validate requests, so the two cannot
// drift. Fastify only documents with these JSON schemas: validation stays with zod (route options below).
import { z } from 'zod';

/**
 * What a field accepts, written out where zod cannot say it in JSON Schema (a refine, a preprocess, a
 * transform: text or a number, a trimmed value, no control characters). The request schemas register it
 * beside the check itself (api/vendor-order-request.ts); test/routes/openapi.test.ts sends each documented
 * case to the real route, so the two cannot drift.
 */
export const documentation = z.registry<{ schema: Record<string, unknown> }>();

/** The JSON Schema of a request schema as callers see it (before coercion); required = fails without it. */
export function requestJsonSchema(schema: z.ZodObject): Record<string, unknown> {
  const json = z.toJSONSchema(schema, {
    io: 'input',
    unrepresentable: 'any',
    target: 'openapi-3.0',
    override: ({ zodSchema, jsonSchema }) => {
      const written = documentation.get(zodSchema)?.schema;
      if (!written) return;
      for (const key of Object.keys(jsonSchema)) delete (jsonSchema as Record<string, unknown>)[key];
      Object.assign(jsonSchema, written);
    },
  }) as Record<string, unknown>;
  const required = Object.entries(schema.shape)
    .filter(([, field]) => !(field as z.ZodType).safeParse(undefined).success)
    .map(([name]) => name);
  delete json.$schema;
  return { ...json, required };
}

const errorBody = {
  type: 'object',
  properties: { success: { type: 'boolean', enum: [false] }, code: { type: 'string' }, field: { type: 'string' }, message: { type: 'string' } },
  required: ['success', 'code', 'message'],
};

/** Route options that document a request without letting Fastify validate or serialise it (zod does). */
export function documented(
  summary: string,
  parts: { body?: z.ZodObject; params?: z.ZodObject; querystring?: Record<string, unknown>; headers?: Record<string, unknown>; responses: Record<number, string> },
) {
  const responses = Object.fromEntries(
    Object.entries(parts.responses).map(([status, description]) => [status, Number(status) >= 400 ? { description, ...errorBody } : { description, type: 'object', additionalProperties: true }]),
  );
  return {
    schema: {
      summary,
      // The same fields are taken from the query instead (routes merge them): there, each is an alternative to
      // the body's, never required beside it.
      // JSON or a form body, with the same fields.
      ...(parts.body ? { body: requestJsonSchema(parts.body), querystring: withoutRequired(requestJsonSchema(parts.body)), consumes: ['application/json', 'application/x-www-form-urlencoded'] } : {}),
      ...(parts.querystring ? { querystring: { type: 'object', properties: parts.querystring } } : {}),
      ...(parts.headers ? { headers: { type: 'object', properties: parts.headers } } : {}),
      ...(parts.params ? { params: requestJsonSchema(parts.params) } : {}),
      response: responses,
      security: [{ bearer: [] }],
    },
    validatorCompiler: () => () => true,
    serializerCompiler: () => (data: unknown) => JSON.stringify(data),
  };
}

function withoutRequired(schema: Record<string, unknown>): Record<string, unknown> {
  const { required: _required, ...rest } = schema;
  return rest;
}
