#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make install DESTDIR=... PREFIX=/usr` puts exactly the files of the
# contract where they belong (binaries, systemd unit, bash completion, man
# pages made from --help, docs), and what it installed works: the binaries
# answer --help, the unit starts the installed sluiced, the completion
# script is valid bash. TAP on stdout.
set -uo pipefail
cd "$(dirname "$0")/../.."
d=$(mktemp -d /tmp/sluice-install.XXXXXX)
trap 'rm -rf "$d"' EXIT
fail=0
ok() { echo "ok - $*"; }
nok() { echo "not ok - $*"; fail=1; }
check() { local n=$1; shift; if "$@"; then ok "$n"; else nok "$n"; fi; }

if ! make -s install DESTDIR="$d" PREFIX=/usr >"$d.log" 2>&1; then
	echo "Bail out! make install failed"; sed 's/^/# /' "$d.log"; rm -f "$d.log"; exit 1
fi
rm -f "$d.log"
want="usr/bin/sluice-http
usr/bin/sluicectl
usr/bin/sluiced
usr/lib/systemd/system/sluiced.service
usr/share/bash-completion/completions/sluicectl
$(for f in README.md docs/*.md; do echo "usr/share/doc/sluice/${f##*/}"; done)
usr/share/man/man8/sluice-http.8
usr/share/man/man8/sluicectl.8
usr/share/man/man8/sluiced.8"
got=$(cd "$d" && find . -type f | sed 's|^\./||' | sort)
check "installed file list is the expected one" [ "$got" = "$(sort <<<"$want")" ]
[ "$got" = "$(sort <<<"$want")" ] || diff <(sort <<<"$want") <(echo "$got") | sed 's/^/# /'
for b in sluiced sluicectl sluice-http; do
	check "$b installed executable and answers --help" \
		bash -c "[ -x '$d/usr/bin/$b' ] && '$d/usr/bin/$b' --help 2>&1 | grep -q '^usage: $b'"
done
check "the unit runs the installed sluiced (/usr/bin) and keeps the helper (KillMode=process)" \
	bash -c "grep -q '^ExecStart=/usr/bin/sluiced ' '$d/usr/lib/systemd/system/sluiced.service' &&
		grep -q '^KillMode=process' '$d/usr/lib/systemd/system/sluiced.service'"
check "the bash completion is valid bash and completes the verbs" \
	bash -c "bash -n '$d/usr/share/bash-completion/completions/sluicectl' &&
		grep -q 'apply validate diff' '$d/usr/share/bash-completion/completions/sluicectl'"
check "man pages are roff made from --help" \
	bash -c "head -1 '$d/usr/share/man/man8/sluicectl.8' | grep -q '^.TH SLUICECTL 8' &&
		grep -q 'trace' '$d/usr/share/man/man8/sluicectl.8'"
check ".containerignore keeps the host's build/ out of images" grep -qx 'build/' .containerignore
exit $fail
