#!/usr/bin/env bash
# Runs every test of the repository: the README's test command, and what CI runs (through .ci/run).
# Builds once, checks the committed OpenAPI document is current, runs each test project, prints one summary line.
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

python3 - "$results" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
totals = {"passed": 0, "failed": 0, "skipped": 0}
for path in glob.glob(sys.argv[1] + "/*.trx"):
    counters = ET.parse(path).getroot().find("t:ResultSummary/t:Counters", ns)
    if counters is None: continue
    totals["passed"] += int(counters.get("passed", 0))
    totals["failed"] += int(counters.get("failed", 0)) + int(counters.get("error", 0)) + int(counters.get("timeout", 0))
    totals["skipped"] += int(counters.get("notExecuted", 0))
print(f"TESTS: {totals['passed']} passed, {totals['failed']} failed, {totals['skipped']} skipped")
PY
[ $status -eq 0 ] && echo "RESULT: PASS" || echo "RESULT: FAIL"
exit $status
