package cli

import (
	"io"

	"github.com/peterbourgon/ff/v3/ffcli"
)

// Tree is the command tree with its flags, writing nowhere: for tests
// elsewhere that check command lines written outside Go (the CI workflows)
// against the commands and flags that really exist.
func Tree() *ffcli.Command {
	return newRoot(&env{stdout: io.Discard, stderr: io.Discard})
}
