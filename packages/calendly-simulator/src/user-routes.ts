import type { FastifyInstance } from 'fastify';
import { authOf } from './api-auth.ts';
import { notFound, permissionDenied } from './api-errors.ts';
import type { SimContext } from './context.ts';
import { apiUri } from './ids.ts';
import { userResource } from './resources.ts';

export function userRoutes(context: SimContext) {
  return async function register(app: FastifyInstance) {
    app.get('/users/me', async (request) => ({ resource: userResource(authOf(request).user) }));

    app.get<{ Params: { id: string } }>('/users/:id', async (request, reply) => {
      const caller = authOf(request).user;
      const user = context.state.users.get(apiUri(`/users/${request.params.id}`));
      if (!user) return notFound(reply);
      if (user.organizationUri !== caller.organizationUri) return permissionDenied(reply);
      return { resource: userResource(user) };
    });
  };
}
