package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// stopBound is how long a command has, after the first signal, to stop on
// its own (cancelled context: children killed, run.json marked
// interrupted) before the rig exits regardless: a command blocked in a
// system call (a read of a FIFO, a hung file system) never sees its
// context. Together with the exit it stays within 2 s.
const stopBound = 1500 * time.Millisecond

// signalContext is cancelled by SIGINT or SIGTERM, with the signal as its
// cause. A second signal, or stopBound passing, exits at once with
// ExitInterrupted (children die with the rig through Pdeathsig).
func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go watchSignals(ch, done, cancel, os.Stderr, stopBound, os.Exit)
	return ctx, func() { signal.Stop(ch); close(done); cancel(nil) }
}

// watchSignals is signalContext's goroutine: on the first signal it
// cancels, then exits with ExitInterrupted on a second signal or after
// bound, unless done is closed first (the command returned).
func watchSignals(ch <-chan os.Signal, done <-chan struct{}, cancel context.CancelCauseFunc, stderr io.Writer, bound time.Duration, exit func(int)) {
	var s os.Signal
	select {
	case s = <-ch:
	case <-done:
		return
	}
	fmt.Fprintf(stderr, "\nrig: %v: stopping (child processes are killed, what was written so far is kept); exiting within %v. Again to quit at once.\n", s, bound+500*time.Millisecond)
	cancel(&signalError{s})
	t := time.NewTimer(bound)
	defer t.Stop()
	select {
	case <-done:
		return
	case s2 := <-ch:
		fmt.Fprintf(stderr, "rig: %v again: quitting now; what was being written may be incomplete.\n", s2)
	case <-t.C:
		fmt.Fprintf(stderr, "rig: not stopped %v after %v: quitting now; what was being written may be incomplete.\n", bound, s)
	}
	exit(ExitInterrupted)
}

// signalError is the cause of a context cancelled by a signal.
type signalError struct{ sig os.Signal }

func (e *signalError) Error() string { return e.sig.String() }

// interrupted says whether ctx was cancelled by a signal.
func interrupted(ctx context.Context) bool {
	var se *signalError
	return errors.As(context.Cause(ctx), &se)
}
