# SPDX-License-Identifier: Apache-2.0
# The end-to-end tests' entry to the sluiced node (sourced after lib.sh):
# the topology, the tcp-echo and web policies and the daemon's start line
# are in tools/node.sh, shared with bench/ and scripts/demo.sh.
. "$SL_ROOT/tools/node.sh"
