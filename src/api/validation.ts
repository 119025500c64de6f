/**
 * Request validation by the route schemas (schemas.ts), and what a schema rejection answers: the API's
 * failure shape with a stable code naming the field, never Fastify's default error body.
 *
 * - Bodies are checked as sent: no type coercion (a form's digit strings are the domain's to read), no
 *   defaults filled in, unknown fields refused rather than dropped.
 * - Query strings and path parameters are text: numbers there are coerced (?limit=20), defaults apply.
 */
import { Ajv, type ErrorObject } from 'ajv';
import type { FastifySchemaCompiler } from 'fastify';
import { type Failure, fail } from '../domain/outcomes.js';

const common = { allErrors: false, removeAdditional: false, strict: false, addUsedSchema: false } as const;
const bodyAjv = new Ajv({ ...common, coerceTypes: false, useDefaults: false });
const textAjv = new Ajv({ ...common, coerceTypes: 'array', useDefaults: true });

export const validatorCompiler: FastifySchemaCompiler<object> = ({ schema, httpPart }) =>
  (httpPart === 'body' ? bodyAjv : textAjv).compile(schema) as ReturnType<FastifySchemaCompiler<object>>;

const short = (s: string) => (s.length > 60 ? `${s.slice(0, 60)}…` : s);

/** `/acl/iqn` -> `acl.iqn` (the form's way of naming nested fields). */
function fieldOf(instancePath: string, child?: string): string {
  const parts = instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (child !== undefined) parts.push(child);
  return parts.join('.');
}

/**
 * The failure for a schema rejection (Ajv stops at the first fault): a required field missing is
 * `data_missing`, anything else `invalid_request`; both name the field (details.field).
 */
export function schemaFailure(errors: readonly ErrorObject[], part: string | undefined): Failure {
  const e = errors[0];
  const where = part === 'querystring' ? 'query parameter' : part === 'params' ? 'URL parameter' : 'field';
  if (!e) return fail('invalid_request', 'The request is malformed.');
  if (part === 'body' && e.instancePath === '' && e.keyword === 'type') return fail('invalid_request', 'The request body must be a JSON object.');
  if (e.keyword === 'required') {
    const field = fieldOf(e.instancePath, String((e.params as { missingProperty: string }).missingProperty));
    return fail('data_missing', `The ${where} ${field} is required.`, field);
  }
  if (e.keyword === 'additionalProperties') {
    const extra = String((e.params as { additionalProperty: string }).additionalProperty);
    const field = fieldOf(e.instancePath, extra);
    return fail('invalid_request', `Unknown ${where} ${JSON.stringify(short(field))}.`, short(field));
  }
  const field = fieldOf(e.instancePath);
  // A union (number or digit string, text or null): every branch's type, not the first one's.
  const types = [...new Set(errors.filter((x) => x.instancePath === e.instancePath && x.keyword === 'type').map((x) => String(x.params.type)))];
  const what = types.length > 0 ? `must be ${types.join(' or ')}` : (e.message ?? 'is not valid');
  return fail('invalid_request', field === '' ? `The request ${what}.` : `The ${where} ${short(field)} ${what}.`, field === '' ? undefined : short(field));
}
