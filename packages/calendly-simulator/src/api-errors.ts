// Calendly's API error bodies: `{title, message, details?}`. Clients branch on the status.
import type { FastifyReply } from 'fastify';

export interface ErrorDetail {
  parameter: string;
  message: string;
}

export function sendApiError(
  reply: FastifyReply,
  status: number,
  title: string,
  message: string,
  details?: ErrorDetail[],
): FastifyReply {
  return reply.code(status).send(details ? { title, message, details } : { title, message });
}

export function invalidArgument(reply: FastifyReply, details: ErrorDetail[]): FastifyReply {
  return sendApiError(
    reply,
    400,
    'Invalid Argument',
    'The supplied parameters are invalid.',
    details,
  );
}

export function notFound(reply: FastifyReply): FastifyReply {
  return sendApiError(
    reply,
    404,
    'Resource Not Found',
    'The server could not find the requested resource.',
  );
}

export function permissionDenied(
  reply: FastifyReply,
  message = 'You do not have permission to access this resource.',
): FastifyReply {
  return sendApiError(reply, 403, 'Permission Denied', message);
}

/** OAuth endpoints answer RFC 6749 bodies instead: `{error, error_description}`. */
export function sendOAuthError(
  reply: FastifyReply,
  status: number,
  error: string,
  description: string,
): FastifyReply {
  return reply.code(status).send({ error, error_description: description });
}
