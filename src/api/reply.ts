/** The API's one failure sender: every error reply is `{code, message, details}`, its status from HTTP_STATUS. */
import type { FastifyReply } from 'fastify';
import { type Failure, type FailureCode, fail, failureBody, httpStatusOf } from '../domain/outcomes.js';

export function sendFailure(reply: FastifyReply, f: Pick<Failure, 'code' | 'message' | 'field' | 'details'>) {
  return reply.code(httpStatusOf(f.code)).send(failureBody(f));
}

/** sendFailure of a failure made on the spot. */
export function sendFail(reply: FastifyReply, code: FailureCode, message: string, field?: string, details?: Record<string, unknown>) {
  return sendFailure(reply, fail(code, message, field, details));
}
