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

/** A token without a scope the endpoint needs; the body names the scopes that would do. */
export function insufficientScope(reply: FastifyReply, requiredScopes: string[]): FastifyReply {
  return reply.code(403).send({
    title: 'Insufficient scope',
    message: `The access token does not grant the scope this request needs: ${requiredScopes.join(', ')}`,
    required_scopes: requiredScopes,
  });
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
