# One image for every role; the command picks the role (see docker-compose.yml).
# Node 24 runs calhook's TypeScript directly (type stripping), so there is no build step.
FROM node:24-bookworm-slim AS deps
WORKDIR /app
RUN npm i -g pnpm@10
COPY pnpm-lock.yaml pnpm-workspace.yaml package.json ./
COPY apps/api/package.json apps/api/
COPY apps/receiver/package.json apps/receiver/
COPY apps/worker/package.json apps/worker/
COPY apps/all/package.json apps/all/
COPY packages packages
RUN find packages -type f ! -name package.json -delete \
 && pnpm install --frozen-lockfile --prod

FROM node:24-bookworm-slim
ENV NODE_ENV=production HOST=0.0.0.0
WORKDIR /app
COPY --from=deps /app /app
COPY . .
USER node
EXPOSE 3000 3001
CMD ["node", "apps/all/src/main.ts"]
