#!/usr/bin/env bash
# Node 22 and the npm tools of the end-to-end tests, from the npm registry only:
#   .cache/node22   Node 22 (the node-linux-<arch> package: the official binary, no download step)
#   .cache/npm      oauth2-mock-server, the MCP Inspector and the MCP conformance suite
# Idempotent: with everything at the pinned versions it only checks and returns (well under a second).
# Called by `scripts/setup.sh --test`; tests/e2e fails (never skips) when this has not run.
set -euo pipefail
cd "$(dirname "$0")/.."

NODE_MAJOR=22
PACKAGES=(
  "oauth2-mock-server@9.3.0"
  "@modelcontextprotocol/inspector@2.12.0"
  "@modelcontextprotocol/conformance@0.1.16"
)

case "$(uname -m)" in
  x86_64 | amd64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "setup-node: unsupported machine $(uname -m)" >&2; exit 1 ;;
esac
node_pkg="node-linux-${arch}"
node_dir=".cache/node22/node_modules/${node_pkg}/bin"

if ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup-node: installing npm from Debian (only to fetch Node ${NODE_MAJOR} from the npm registry)" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null)
  else
    echo "setup-node: npm is missing; install it (apt-get install npm) and run again" >&2
    exit 1
  fi
fi

npm_quiet=(--no-audit --no-fund --loglevel=error --no-update-notifier)

have_node() {
  [ -x "${node_dir}/node" ] && "${node_dir}/node" --version 2>/dev/null | grep -q "^v${NODE_MAJOR}\."
}

if ! have_node; then
  echo "setup-node: installing Node ${NODE_MAJOR} (${node_pkg}) into .cache/node22" >&2
  mkdir -p .cache/node22
  npm install "${npm_quiet[@]}" --prefix .cache/node22 "${node_pkg}@${NODE_MAJOR}" >&2
  have_node || { echo "setup-node: ${node_dir}/node is not Node ${NODE_MAJOR}" >&2; exit 1; }
fi
export PATH="$PWD/${node_dir}:$PATH"

installed_version() {  # name -> version in .cache/npm, or nothing
  local f=".cache/npm/node_modules/$1/package.json"
  [ -f "$f" ] && node -p "require('./$f').version" 2>/dev/null || true
}

missing=()
for spec in "${PACKAGES[@]}"; do
  name="${spec%@*}"
  version="${spec##*@}"
  [ "$(installed_version "$name")" = "$version" ] || missing+=("$spec")
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup-node: installing ${missing[*]} into .cache/npm" >&2
  mkdir -p .cache/npm
  # Debian's npm, run by Node 22 (first on PATH): the packages install for the Node that runs them.
  npm install "${npm_quiet[@]}" --prefix .cache/npm "${PACKAGES[@]}" >&2
  for spec in "${PACKAGES[@]}"; do
    name="${spec%@*}"
    [ "$(installed_version "$name")" = "${spec##*@}" ] || { echo "setup-node: $spec did not install" >&2; exit 1; }
  done
fi
echo "setup-node: ready ($("${node_dir}/node" --version), .cache/npm)" >&2
