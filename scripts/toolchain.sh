#!/bin/sh
# Runs a command with the toolchain calhook needs (Node >= 22.12, pnpm 10, installed
# dependencies), installing whatever is missing first. A fresh machine with an older system
# Node and no pnpm gets Node 24 and pnpm under $HOME/.node24, from the npm registry.
# Usage: sh scripts/toolchain.sh <command> [args...]
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
prefix="${CALHOOK_NODE_PREFIX:-$HOME/.node24}"

node_ok() {
  command -v node >/dev/null 2>&1 || return 1
  node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=12)?0:1)'
}

if ! node_ok; then
  PATH="$prefix/bin:$PATH"; export PATH
  if ! node_ok; then
    echo "toolchain: installing Node 24 into $prefix" >&2
    npm i -g --prefix "$prefix" node@24 >&2
  fi
fi
if ! command -v pnpm >/dev/null 2>&1; then
  PATH="$prefix/bin:$PATH"; export PATH
  if ! command -v pnpm >/dev/null 2>&1; then
    echo "toolchain: installing pnpm 10 into $prefix" >&2
    npm i -g --prefix "$prefix" pnpm@10 >&2
  fi
fi

# Install dependencies when node_modules is missing or older than the lockfile.
stamp="$root/node_modules/.modules.yaml"
if [ ! -f "$stamp" ] || [ "$root/pnpm-lock.yaml" -nt "$stamp" ]; then
  (cd "$root" && pnpm install --frozen-lockfile --config.confirmModulesPurge=false >&2)
fi

PATH="$root/node_modules/.bin:$PATH"; export PATH
[ "$#" -gt 0 ] || exit 0
exec "$@"
