# SPDX-License-Identifier: Apache-2.0
# The end-to-end tests' entry to the sandbox library (sourced, bash): every
# helper (namespaces, cgroup, pins, cleanup, TAP) is in tools/sandbox.sh,
# shared with bench/ and scripts/demo.sh.
. "$(dirname "${BASH_SOURCE[0]}")/../../tools/sandbox.sh"
