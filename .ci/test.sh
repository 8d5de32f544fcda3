#!/usr/bin/env bash
# Runs every test of the repository: the README's test command, and what CI runs (through .ci/run).
# Installs the Debian packages the tests need when missing (chromium, rabbitmq-server, postgresql; as root), builds
# once, checks the committed OpenAPI document is current, runs each test project one after the other, then the browser,
# SDK and OpenAPI-lint tests of web-tests/ (installing the npm packages when missing), and prints one summary line.
set -uo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

results=$(mktemp -d)
status=0

# A step that cannot even run counts as one failed test in the summary.
setup_failed() {
  echo "setup: $1" >&2
  echo "$1" >> "$results/setup-failures"
  status=1
}

# Debian packages the tests need, installed in one apt-get run when missing and running as root: chromium for the
# browser tests; rabbitmq-server (the RabbitMQ cluster tests start their own nodes from /usr/lib/rabbitmq/bin, on free
# loopback ports in temp folders) and postgresql (initdb + pg_ctl in a temp folder). The packages' own services are
# not started (policy-rc.d): the tests neither need nor touch a system-wide RabbitMQ node or PostgreSQL cluster, and
# an idle one would only take memory and CPU from them.
echo "== system packages"
have_initdb() { compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null; }
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || missing+=(rabbitmq-server)
have_initdb || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing ${missing[*]} (Debian packages)"
    own_policy=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\n# .ci/test.sh: no service starts while it installs packages\nexit 101\n' > /usr/sbin/policy-rc.d
      chmod 755 /usr/sbin/policy-rc.d
      own_policy=1
    fi
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; } \
      || echo "apt-get could not install ${missing[*]}" >&2
    [ -z "$own_policy" ] || rm -f /usr/sbin/policy-rc.d
  else
    echo "not root (or no apt-get): not installing ${missing[*]}" >&2
  fi
fi
# What is still missing fails the tests that need it (each says which package to install); chromium's absence is
# counted with web-tests below.
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] \
  || echo "warning: /usr/lib/rabbitmq/bin/rabbitmq-server is missing: the RabbitMQ tests will fail (apt-get install rabbitmq-server)" >&2
have_initdb || echo "warning: initdb is missing: the PostgreSQL tests will fail (apt-get install postgresql)" >&2
for package in rabbitmq-server postgresql chromium; do
  dpkg-query -W -f='${Package} ${Version}\n' "$package" 2>/dev/null || true
done

echo "== build"
dotnet build Gateway.sln -c Debug -warnaserror || { echo "TESTS: build failed"; exit 1; }

echo "== OpenAPI document up to date"
if git rev-parse --git-dir >/dev/null 2>&1 && ! git diff --quiet -- openapi/; then
  git --no-pager diff --stat -- openapi/
  echo "openapi/ differs from what the server generates: commit the regenerated document." >&2
  status=1
fi

for project in tests/*/*.csproj; do
  name=$(basename "$project" .csproj)
  echo "== $name"
  dotnet test "$project" --no-build -c Debug --logger "trx;LogFileName=$name.trx" --results-directory "$results" \
    -- RunConfiguration.TestSessionTimeout=1200000 || status=1
done

# The dashboard in a real browser, the generated TypeScript SDK against a live server, and the OpenAPI lint
# (web-tests/, Playwright driving Debian's Chromium, installed above when missing).
web_setup_failed() { setup_failed "web-tests: $1"; }
echo "== web-tests (dashboard in Chromium, generated SDK, OpenAPI lint)"
web_started=$(date +%s)
[ -x /usr/bin/chromium ] \
  || web_setup_failed "/usr/bin/chromium is missing: install Debian's chromium package (root: apt-get install chromium)"
if ! command -v npm >/dev/null; then
  web_setup_failed "npm is missing: Node.js 20.19 or later is needed for web-tests/"
elif [ -x /usr/bin/chromium ]; then
  # Playwright's own browser builds are never downloaded: the tests drive /usr/bin/chromium.
  if (cd web-tests && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error); then
    (cd web-tests && JUNIT_FILE="$results/web-tests.junit.xml" npx playwright test) || status=1
    [ -f "$results/web-tests.junit.xml" ] || web_setup_failed "Playwright wrote no results"
  else
    web_setup_failed "npm ci failed in web-tests/"
  fi
fi
echo "web-tests took $(( $(date +%s) - web_started )) s"

python3 - "$results" <<'PY'
import glob, os, sys, xml.etree.ElementTree as ET
ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
totals = {"passed": 0, "failed": 0, "skipped": 0}
for path in glob.glob(sys.argv[1] + "/*.trx"):
    counters = ET.parse(path).getroot().find("t:ResultSummary/t:Counters", ns)
    if counters is None: continue
    totals["passed"] += int(counters.get("passed", 0))
    totals["failed"] += int(counters.get("failed", 0)) + int(counters.get("error", 0)) + int(counters.get("timeout", 0))
    totals["skipped"] += int(counters.get("notExecuted", 0))
# JUnit XML (Playwright): <testsuites tests= failures= errors= skipped=>.
for path in glob.glob(sys.argv[1] + "/*.junit.xml"):
    suites = ET.parse(path).getroot()
    tests, skipped = int(suites.get("tests", 0)), int(suites.get("skipped", 0))
    failures = int(suites.get("failures", 0)) + int(suites.get("errors", 0))
    totals["passed"] += tests - failures - skipped
    totals["failed"] += failures
    totals["skipped"] += skipped
setup = os.path.join(sys.argv[1], "setup-failures")
if os.path.exists(setup):
    totals["failed"] += sum(1 for line in open(setup) if line.strip())
print(f"TESTS: {totals['passed']} passed, {totals['failed']} failed, {totals['skipped']} skipped")
PY
[ $status -eq 0 ] && echo "RESULT: PASS" || echo "RESULT: FAIL"
exit $status
