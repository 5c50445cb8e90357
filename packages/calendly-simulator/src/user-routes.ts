import type { FastifyInstance } from 'fastify';
import { authOf, hasScope } from './api-auth.ts';
import { notFound, permissionDenied } from './api-errors.ts';
import type { SimContext } from './context.ts';
import { apiUri } from './ids.ts';
import { userResource } from './resources.ts';

export function userRoutes(context: SimContext) {
  return async function register(app: FastifyInstance) {
    app.get('/users/me', async (request, reply) => {
      const auth = authOf(request);
      if (!hasScope(reply, auth, 'users:read')) return reply;
      return { resource: userResource(auth.user) };
    });

    app.get<{ Params: { id: string } }>('/users/:id', async (request, reply) => {
      const auth = authOf(request);
      if (!hasScope(reply, auth, 'users:read')) return reply;
      const caller = auth.user;
      const user = context.state.users.get(apiUri(`/users/${request.params.id}`));
      if (!user) return notFound(reply);
      if (user.organizationUri !== caller.organizationUri) return permissionDenied(reply);
      return { resource: userResource(user) };
    });
  };
}
