package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// signalContext is cancelled by SIGINT or SIGTERM, with the signal as its
// cause; a second signal exits at once (children die with their process
// group through Pdeathsig).
func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-ch
		fmt.Fprintf(os.Stderr, "\nrig: %v: stopping (QEMU and builds are being killed; results so far are kept). Again to quit at once.\n", s)
		cancel(errors.New(s.String()))
		<-ch
		os.Exit(ExitInterrupted)
	}()
	return ctx, func() { signal.Stop(ch); cancel(nil) }
}
