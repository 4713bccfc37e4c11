#!/bin/sh
# The full fault-injection run (docs/hardening.md): 500 seeded SIGKILLs of the real gateway.
#   scripts/fault-injection.sh [KILLS] [SEED]
# The test suite runs the same test with 100 kills; results go in docs/hardening.md.
set -e
cd "$(dirname "$0")/.."
AIRSSYS_FAULT_KILLS="${1:-500}" AIRSSYS_FAULT_SEED="${2:-20261130}" exec npx vitest run test/hardening/fault-injection.test.ts
