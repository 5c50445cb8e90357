# Sourced by the test runners: which Postgres and Redis the tests use. DATABASE_URL / REDIS_URL
# when set; otherwise testcontainers starts them when a Docker engine answers; otherwise the
# local servers on their default ports.
if [ -z "${DATABASE_URL:-}" ] || [ -z "${REDIS_URL:-}" ]; then
  if ! docker info >/dev/null 2>&1; then
    : "${DATABASE_URL:=postgres://postgres@127.0.0.1:5432/postgres}"
    : "${REDIS_URL:=redis://127.0.0.1:6379}"
    export DATABASE_URL REDIS_URL
    echo "test: no Docker engine; using Postgres at $DATABASE_URL and Redis at $REDIS_URL" >&2
  fi
fi
