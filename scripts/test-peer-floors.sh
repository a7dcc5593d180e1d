#!/usr/bin/env bash
# Runs the test suite against the lowest versions that package.json's peerDependencies allow
# for electrodb, @aws-sdk/client-dynamodb, @aws-sdk/lib-dynamodb and @aws-sdk/util-dynamodb.
#
#   scripts/test-peer-floors.sh [extra vitest args...]
#   scripts/with-node.sh 22 scripts/test-peer-floors.sh      # the same on another Node line
#
# Works on a copy of the project (tracked files plus untracked ones git does not ignore) in a
# temporary folder, so this checkout's node_modules and dist stay as they are:
#   1. npm ci (the lockfile's versions), then npm run build: dist is built as it is released
#   2. npm install --no-save of the four floors, each the lowest version of its range
#   3. npm ls: each floor is the only copy of its package in the tree (a nested second copy
#      would mean the code under test loads something else), then the same by require.resolve
#   4. vitest run; prints a summary and exits non-zero on any failure
#
# Every test file runs: the SDK floor is where the tests' own tooling (the fault proxy's retry
# strategy from the devDependency @smithy/core) works too. Below 3.723.0 the SDK runs on
# @smithy/core 2, whose retry-strategy contract differs, and test/adapter/injectedFaults.test.ts
# fails there for that reason alone.
#
# PEER_FLOORS_KEEP=1 keeps the temporary folder (its path is printed) for a look afterwards.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
started=$SECONDS
peers=(electrodb @aws-sdk/client-dynamodb @aws-sdk/lib-dynamodb @aws-sdk/util-dynamodb)

# The lowest version of each peer range: semver's minVersion where semver resolves from this
# checkout (it does once node_modules is installed), else the range with its operator stripped.
mapfile -t floors < <(node - "${peers[@]}" <<'EOF'
const { readFileSync } = require('node:fs');
const { peerDependencies = {} } = JSON.parse(readFileSync('package.json', 'utf8'));
let minVersion;
try {
  ({ minVersion } = require(require.resolve('semver', { paths: [process.cwd()] })));
} catch {}
for (const name of process.argv.slice(2)) {
  const range = peerDependencies[name];
  if (range === undefined) {
    console.error(`test-peer-floors: package.json has no peerDependency ${name}`);
    process.exit(1);
  }
  const floor = minVersion
    ? minVersion(range)?.version
    : /^[\s^~>=v]*(\d+\.\d+\.\d+[^\s|]*)/.exec(range)?.[1];
  if (!floor) {
    console.error(`test-peer-floors: no lowest version in ${name} "${range}"`);
    process.exit(1);
  }
  console.log(floor);
}
EOF
)
[[ ${#floors[@]} -eq ${#peers[@]} ]] || exit 1
specs=()
for i in "${!peers[@]}"; do specs+=("${peers[$i]}@${floors[$i]}"); done
echo "test-peer-floors: node $(node --version), floors ${specs[*]}"

work=$(mktemp -d "${TMPDIR:-/tmp}/peer-floors.XXXXXX")
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  if [[ ${PEER_FLOORS_KEEP:-} == 1 ]]; then
    echo "test-peer-floors: kept $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
project="$work/project"
logs="$work/logs"
mkdir -p "$project" "$logs"

# Runs a step with its output in a log, shown only when the step fails.
step() {
  local name=$1
  shift
  if ! "$@" >"$logs/$name.log" 2>&1; then
    echo "test-peer-floors: $name failed:" >&2
    tail -n 60 "$logs/$name.log" >&2
    return 1
  fi
}

# Files deleted from the work tree but still tracked are not there to copy.
git ls-files -z --cached --others --exclude-standard |
  while IFS= read -r -d '' file; do
    if [[ -e $file || -L $file ]]; then printf '%s\0' "$file"; fi
  done |
  tar --null -T - -cf - | tar -xf - -C "$project"
cd "$project"

step npm-ci npm ci --no-audit --no-fund
step build npm run build
step install-floors npm install --no-save --no-audit --no-fund "${specs[@]}"

# Each floor must be the only copy of its package anywhere in the tree. npm ls exits non-zero
# here anyway (the floors are outside the devDependency ranges), so its JSON is what counts.
npm ls --all --json "${peers[@]}" >"$logs/npm-ls.json" 2>/dev/null || true
node - "$logs/npm-ls.json" "${specs[@]}" <<'EOF'
const { readFileSync } = require('node:fs');
const [file, ...specs] = process.argv.slice(2);
const tree = JSON.parse(readFileSync(file, 'utf8'));
const wanted = new Map(specs.map((spec) => {
  const at = spec.lastIndexOf('@');
  return [spec.slice(0, at), spec.slice(at + 1)];
}));
const problems = [];
for (const [name, version] of wanted) {
  const top = tree.dependencies?.[name]?.version;
  if (top !== version) problems.push(`${name}: top level has ${top ?? 'nothing'}, not ${version}`);
}
(function walk(node, trail) {
  for (const [name, child] of Object.entries(node.dependencies ?? {})) {
    const here = [...trail, `${name}@${child.version}`];
    if (wanted.has(name) && child.version !== wanted.get(name)) {
      problems.push(`second copy ${here.join(' > ')}`);
    }
    walk(child, here);
  }
})(tree, []);
// What the code under test really loads.
for (const [name, version] of wanted) {
  const loaded = require(require.resolve(`${name}/package.json`, { paths: [process.cwd()] }));
  if (loaded.version !== version) problems.push(`${name}: require() loads ${loaded.version}`);
}
if (problems.length > 0) {
  console.error(`test-peer-floors: the floors are not what the tree holds:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
EOF

set +e
npx vitest run --reporter=default --reporter=json --outputFile.json="$logs/vitest.json" "$@"
status=$?
set -e

counts=$(node -e 'const r = require(process.argv[1]);
  console.log(r.numPassedTests, r.numFailedTests, r.numPendingTests + r.numTodoTests, r.numTotalTests)' \
  "$logs/vitest.json" 2>/dev/null || echo "0 0 0 0")
read -r passed failed skipped total <<<"$counts"
if [[ $status -eq 0 && ($failed -ne 0 || $total -eq 0) ]]; then status=1; fi
echo
echo "test-peer-floors: ${specs[*]} on node $(node --version), $((SECONDS - started)) s"
echo "floors: $passed passed, $failed failed, $skipped skipped"
exit "$status"
