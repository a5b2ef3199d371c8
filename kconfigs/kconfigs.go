// Package kconfigs carries the config fragments (*.config here, merged by
// rig/kconfig) into the rig binary, so an installed rig needs no checkout.
package kconfigs

import "embed"

// Fragments holds every *.config of this directory.
//
//go:embed *.config
var Fragments embed.FS
