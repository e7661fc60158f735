# syntax=docker/dockerfile:1
# The ops-worker image. Build from the repository root:
#   docker build -f deploy/docker/worker.Dockerfile -t ops-worker .
# Run it with SUPABASE_URL + SUPABASE_KEY, or DATABASE_URL (see `docker run --rm ops-worker --help`).

ARG NODE_VERSION=22

FROM node:${NODE_VERSION}-bookworm-slim AS build
ENV CI=true
RUN npm install -g pnpm@10.34.9
WORKDIR /repo
# The store first, from the lockfile alone: a source change does not download dependencies again.
COPY pnpm-lock.yaml pnpm-workspace.yaml .npmrc ./
RUN pnpm fetch
COPY . .
RUN pnpm install --offline --frozen-lockfile
RUN pnpm --filter "@ops-control-room/worker..." build
# A pruned production install: the worker, its workspace dependencies as built, and their
# production dependencies only — flat (hoisted), so zod, a peer dependency of the libraries, is
# installed where the application's code finds it.
RUN pnpm --filter @ops-control-room/worker deploy --legacy --prod --config.node-linker=hoisted /out

FROM node:${NODE_VERSION}-bookworm-slim
# tini as PID 1: signals reach Node (a graceful stop on SIGTERM), zombies are reaped.
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini \
  && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
  OPS_HEALTH_PORT=9464
WORKDIR /app
# Owned by root, run as `node`: the process cannot rewrite its own code.
COPY --from=build /out /app
USER node
EXPOSE 9464
# Liveness only: /livez does not ask the database, so an outage does not restart every container.
HEALTHCHECK --interval=15s --timeout=5s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.OPS_HEALTH_PORT||9464)+'/livez').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/dist/opsWorker.js"]
