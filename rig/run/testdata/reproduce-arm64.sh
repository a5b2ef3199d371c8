#!/bin/sh
# reproduce.sh: boot cell arm64 of rig run 20261207-120000-abcdef again, without the rig.
#
# The same kernel and initramfs, the same kernel command line (seed, tests,
# duration: every rig.* option the rig passed) and the same QEMU options as
# the rig's boot, from the same argv builder; but QEMU starts at once, the
# console is on this terminal (Ctrl-C stops QEMU) and the guest's events go
# to a file. The run stops after 183s, the rig's run timeout.
#
# Exit status: the guest's verdict, from its events.
#   0  the guest sent "done" and no test failed
#   1  a test failed or erred (even if the kernel then crashed)
#   2  the guest never finished: crash, panic, hang, timeout, no QEMU
# The rig also fails a cell for a kernel report on the console (a WARNING,
# a BUG) under tests that pass; here that is for your eyes: exit 0.
#
# Needs qemu-system-aarch64 and timeout (coreutils). The kernel and initramfs are
# kept beside this script when the cell did not pass (or with --keep-kernel);
# else the script boots them from the rig's cache, if they are still there.
# RIG_EVENTS=FILE keeps a copy of the events.
set -u
here=$(cd "$(dirname "$0")" && pwd)
kernel="$here/Image"
[ -f "$kernel" ] || kernel=/cache/kernels/k/Image
if [ ! -f "$kernel" ]; then
	echo "reproduce.sh: Image not kept beside the script and gone from the rig's cache (/cache/kernels/k/Image): rig rerun builds it again" >&2
	exit 2
fi
initrd="$here/initramfs.cpio"
[ -f "$initrd" ] || initrd='/cache/images/it'\''s here/initramfs.cpio'
if [ ! -f "$initrd" ]; then
	echo "reproduce.sh: initramfs.cpio not kept beside the script and gone from the rig's cache (/cache/images/it's here/initramfs.cpio): rig rerun builds it again" >&2
	exit 2
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/rig-reproduce.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
trap 'exit 2' HUP INT TERM
events="$tmp/events.jsonl"
: >"$events"
timeout --foreground -k 10 183s \
	qemu-system-aarch64 \
	-M virt \
	-accel tcg \
	-cpu max,pauth-impdef=on \
	-smp 2 \
	-m 512 \
	-kernel "$kernel" \
	-initrd "$initrd" \
	-append 'console=ttyAMA0 panic=-1 rig.events=/dev/hvc0 pty.legacy_count=0 rig.seed=42 rig.duration=3s rig.tests=robust-unmap-remap' \
	-display none \
	-no-reboot \
	-nodefaults \
	-chardev stdio,id=con \
	-serial chardev:con \
	-chardev file,id=ev,path="$events" \
	-device virtio-serial-device \
	-device virtconsole,chardev=ev \
	-nic none
qemu=$?
[ -n "${RIG_EVENTS:-}" ] && cp "$events" "$RIG_EVENTS"
# Events are JSON lines (guest/event): {"ev":"result","test":...,"status":"fail",...}.
# A quote inside a JSON string is escaped, so these patterns match keys only.
if grep -Eq '"ev":"result".*"status":"(fail|error)"' "$events"; then
	echo "reproduce.sh: a test failed:" >&2
	grep -E '"ev":"result".*"status":"(fail|error)"' "$events" >&2
	exit 1
fi
if ! grep -q '"ev":"done"' "$events"; then
	if [ "$qemu" -eq 124 ] || [ "$qemu" -eq 137 ]; then
		echo "reproduce.sh: timed out after 183s without the guest's done event" >&2
	else
		echo "reproduce.sh: the guest never finished (QEMU exit status $qemu)" >&2
	fi
	exit 2
fi
exit 0
