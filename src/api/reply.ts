import type { FastifyReply } from 'fastify';
import { type Failure, httpStatusOf } from '../domain/outcomes.js';

/** The API's one error shape: {code, message, details}. */
export function sendFailure(reply: FastifyReply, f: Failure) {
  return reply.code(httpStatusOf(f.code)).send({ code: f.code, message: f.message, details: f.field ? { field: f.field } : {} });
}

export function sendError(reply: FastifyReply, status: number, code: string, message: string, details: Record<string, unknown> = {}) {
  return reply.code(status).send({ code, message, details });
}
