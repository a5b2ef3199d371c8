package pihandover

import (
	"context"
	"testing"
	"time"

	"github.com/rig-kernel/rig/guest/event"
	"github.com/rig-kernel/rig/guest/stress"
)

// On the host kernel (which handles PI handover correctly) both directed
// scenarios pass, ten times in a row: nothing in them depends on timing.
func TestPIHandoverHost(t *testing.T) {
	for i := 0; i < 10; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		start := time.Now()
		o := run(ctx, stress.Env{})
		cancel()
		if o.Status != event.Pass {
			t.Fatalf("run %d: %s: %s %v", i, o.Status, o.Reason, o.Evidence)
		}
		if i == 0 {
			t.Logf("%s in %v: %s %v", o.Status, time.Since(start).Round(time.Millisecond), o.Reason, o.Evidence)
		}
	}
}
