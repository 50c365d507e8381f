#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# gen-man.sh PROGRAM SECTION SUMMARY: a man page (roff) on stdout made from
# PROGRAM --help, so the manual never drifts from the binary's own help.
# Used by `make install`.
set -euo pipefail
prog=$1 section=$2 summary=$3
name=$(basename "$prog")
help=$("$prog" --help 2>&1 || true)
esc() { sed -e 's/\\/\\e/g' -e 's/^\./\\\&./' -e "s/^'/\\\\\&'/"; }
printf '.TH %s %s "" "Sluice" "Sluice manual"\n' "$(tr a-z A-Z <<<"$name")" "$section"
printf '.SH NAME\n%s \\- %s\n' "$name" "$summary"
printf '.SH SYNOPSIS\n.nf\n'
head -1 <<<"$help" | esc
printf '.fi\n.SH OPTIONS\n.nf\n'
tail -n +2 <<<"$help" | esc
printf '.fi\n.SH SEE ALSO\n'
printf 'sluiced(8), sluicectl(8), sluice-http(8); the documents under share/doc/sluice.\n'
