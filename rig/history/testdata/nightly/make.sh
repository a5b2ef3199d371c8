#!/bin/sh
# make.sh makes the history fixture: real `rig matrix` nights of plan.yaml
# (x86_64 and arm64, tcg, the default tree, three guest tests and the
# deliberately random --exec program random-coin.c), one night after
# another, the series changing from night to night as NIGHTS says ("" is the base tree). It then
# writes each night's report.html (`rig report html`) and keeps run.json,
# summary.md and report.html only, under runs/NN-<series>/.
#
# Usage: [NIGHTS=...] [FIRST=N] [KNOWN=FILE] make.sh RIG OUT
#   RIG: a built rig; OUT: a scratch results directory; FIRST numbers the
#   first night (default 1); KNOWN is given to the rig as --known FILE.
# Made on 2026-12-07: nights 1-14 with the rig of branch hist,
#   sh make.sh /tmp/hist/rig /tmp/hist/nightly
# and nights 15-17 with a rig built from branch known (7b24685), whose
# --known marks the 6.12 robust-unmap-remap failure known (a copy of its
# patches/known-issues.yaml is known-issues.yaml here):
#   NIGHTS="break-owner-death break-owner-death base" FIRST=15 \
#     KNOWN=rig/history/testdata/nightly/known-issues.yaml \
#     sh make.sh /tmp/hist/rig-known /tmp/hist/nightly
set -eu
rig=$1 out=$2
here=$(cd "$(dirname "$0")" && pwd)
patches=$(cd "$here/../../../../patches" && pwd)
NIGHTS=${NIGHTS:-"base base example example base example example base example example base example break-owner-death break-owner-death"}
mkdir -p "$out"
mkdir -p "$out/x86_64" "$out/arm64"
gcc -O2 -static -o "$out/x86_64/random-coin" "$here/random-coin.c"
aarch64-linux-gnu-gcc -O2 -static -o "$out/arm64/random-coin" "$here/random-coin.c"
n=$((${FIRST:-1} - 1))
known=
if [ -n "${KNOWN:-}" ]; then
	known="--known $(cd "$(dirname "$KNOWN")" && pwd)/$(basename "$KNOWN")"
fi
for s in $NIGHTS; do
	n=$((n + 1))
	case $s in
	base) series='""' ;;
	*) series="$patches/$s" ;;
	esac
	sed "s|SERIES|$series|" "$here/plan.yaml" >"$out/plan-$n.yaml"
	echo "night $n: series $s ($(date -u +%FT%TZ))"
	# A failing night exits 1: that is a result, not an error of this script.
	# shellcheck disable=SC2086 # $known is empty or two words
	"$rig" matrix "$out/plan-$n.yaml" --results "$out/night-$n" --seed "$n" $known \
		--exec "$out/x86_64/random-coin" --exec "$out/arm64/random-coin" || true
	run=$(ls -d "$out/night-$n"/*/ | head -n 1)
	dst=$(printf '%s/runs/%02d-%s' "$here" "$n" "$s")
	mkdir -p "$dst"
	"$rig" report html "$run"
	cp "$run/run.json" "$run/summary.md" "$run/report.html" "$dst/"
done
