// Package guest carries the guest's sources into the rig binary: the host
// builds guest/cmd/rig-guest from them for the target arch when it packs an
// image (rig/initramfs), so an installed rig needs no checkout. The guest
// itself is guest/cmd/rig-guest; nothing here runs in it.
package guest

import "embed"

// Source is this directory's tree (names starting with '.' or '_' left out,
// as go:embed does).
//
//go:embed *
var Source embed.FS
