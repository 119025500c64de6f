/**
 * How a route declares itself, in one place: who may call it (`config.permission`, or `config.public`),
 * its documentation, its request schemas and the replies it answers. From these Fastify validates the
 * request and serializes the reply, and docs.ts builds the OpenAPI document.
 */
import { type TSchema, Type } from '@sinclair/typebox';
import type { FastifyContextConfig, FastifyReply } from 'fastify';
import type { PermissionRequirement } from '../domain/auth.js';
import type { Failure } from '../domain/outcomes.js';
import { errors } from './docs.js';
import { sendFailure } from './reply.js';

export interface OperationSpec {
  description?: string;
  params?: TSchema;
  querystring?: TSchema;
  body?: TSchema;
  /** The success reply: its status and schema (with the schema's description). */
  reply: [number, object];
  /** The error statuses it answers; 401, 403 and 503 every route may answer are added in the document. */
  errors?: number[];
}

/** Route options for one operation of the API, under `tags` in the document. */
export function operations(tags: string[]) {
  return (access: PermissionRequirement | 'public', summary: string, s: OperationSpec) => ({
    config: (access === 'public' ? { public: true } : { permission: access }) as FastifyContextConfig,
    schema: {
      tags,
      summary,
      ...(s.description === undefined ? {} : { description: s.description }),
      ...(s.params === undefined ? {} : { params: s.params }),
      ...(s.querystring === undefined ? {} : { querystring: s.querystring }),
      ...(s.body === undefined ? {} : { body: s.body }),
      response: { [s.reply[0]]: s.reply[1], ...errors(...(s.errors ?? [])) },
    },
  });
}

/** A schema with the description the document shows for it (a reply's). */
export function described<T extends object>(schema: T, description: string): T & { description: string } {
  return { ...schema, description };
}

/** A reply `{<key>: [item...]}`. */
export function listReply<K extends string, T extends TSchema>(key: K, item: T, description: string) {
  return Type.Object({ [key]: Type.Array(item) } as { [P in K]: ReturnType<typeof Type.Array<T>> }, { description });
}

/** An empty reply (204) in the document. */
export const noContent = (description: string) => ({ type: 'null', description });

/** Sends a service's result: a failure as the API's failure, a success as `body(result)` with `status`. */
export function answer<T>(reply: FastifyReply, r: ({ ok: true } & T) | Failure, body: (ok: { ok: true } & T) => unknown, status = 200) {
  return r.ok ? reply.code(status).send(body(r)) : sendFailure(reply, r);
}
