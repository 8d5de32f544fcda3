#!/usr/bin/env bash
# Runs every test of the repository: the README's test command, and what CI runs (through .ci/run).
# Builds once, checks the committed OpenAPI document is current, runs each test project, then the browser, SDK and
# OpenAPI-lint tests of web-tests/ (installing Debian's chromium and the npm packages when missing), and prints one
# summary line.
set -uo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

results=$(mktemp -d)
status=0

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
# (web-tests/, Playwright driving Debian's Chromium). A step that cannot even run counts as one failed test.
web_setup_failed() {
  echo "web-tests: $1" >&2
  echo "$1" >> "$results/web-setup-failures"
  status=1
}
echo "== web-tests (dashboard in Chromium, generated SDK, OpenAPI lint)"
web_started=$(date +%s)
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing chromium (Debian package)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
      || web_setup_failed "could not install chromium with apt-get"
  else
    web_setup_failed "/usr/bin/chromium is missing: install Debian's chromium package (root: apt-get install chromium)"
  fi
fi
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
setup = os.path.join(sys.argv[1], "web-setup-failures")
if os.path.exists(setup):
    totals["failed"] += sum(1 for line in open(setup) if line.strip())
print(f"TESTS: {totals['passed']} passed, {totals['failed']} failed, {totals['skipped']} skipped")
PY
[ $status -eq 0 ] && echo "RESULT: PASS" || echo "RESULT: FAIL"
exit $status
