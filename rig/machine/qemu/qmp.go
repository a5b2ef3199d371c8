package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/digitalocean/go-qemu/qmp"
)

// QMP goes through github.com/digitalocean/go-qemu/qmp. That package has no
// contexts or deadlines and matches replies to commands by order, so this
// wrapper adds what the rig needs: a bounded handshake, a bounded
// wait per command, an event pump that always drains (an unread event blocks
// the next reply), and a monitor that refuses further commands once one has
// timed out (its late reply would be taken for the next command's).

// qmpEvent is one asynchronous QMP event.
type qmpEvent struct {
	Name string
	Data json.RawMessage
}

// qmpClient is one QMP connection.
type qmpClient struct {
	mon    *qmp.SocketMonitor
	done   chan struct{} // closed when the event pump ends (connection gone)
	mu     sync.Mutex
	broken error // set once a command timed out
	close  sync.Once
}

// dialQMP connects to path, completes the capabilities handshake within
// timeout and starts pumping events to onEvent (one at a time, in order).
func dialQMP(path string, timeout time.Duration, onEvent func(qmpEvent)) (*qmpClient, error) {
	mon, err := qmp.NewSocketMonitor("unix", path, timeout)
	if err != nil {
		return nil, err
	}
	errc := make(chan error, 1)
	go func() { errc <- mon.Connect() }()
	select {
	case err := <-errc:
		if err != nil {
			_ = mon.Disconnect()
			return nil, fmt.Errorf("QMP handshake: %w", err)
		}
	case <-time.After(timeout):
		_ = mon.Disconnect() // unblocks Connect
		return nil, fmt.Errorf("QMP handshake: no greeting within %s", timeout)
	}
	evs, err := mon.Events(context.Background())
	if err != nil {
		_ = mon.Disconnect()
		return nil, err
	}
	q := &qmpClient{mon: mon, done: make(chan struct{})}
	go func() {
		defer close(q.done)
		for e := range evs {
			if onEvent == nil {
				continue
			}
			data, _ := json.Marshal(e.Data)
			onEvent(qmpEvent{Name: e.Event, Data: data})
		}
	}()
	return q, nil
}

// execute runs a command without arguments and returns its "return" value.
// closeGrace is how long a command whose connection closed still waits
// for a reply that was read before the close.
const closeGrace = 200 * time.Millisecond

func (q *qmpClient) execute(command string, timeout time.Duration) (json.RawMessage, error) {
	q.mu.Lock()
	if q.broken != nil {
		err := q.broken
		q.mu.Unlock()
		return nil, err
	}
	q.mu.Unlock()
	select {
	case <-q.done:
		return nil, fmt.Errorf("QMP %s: connection closed", command)
	default:
	}
	type reply struct {
		b   []byte
		err error
	}
	ch := make(chan reply, 1)
	go func() {
		b, err := q.mon.Run([]byte(`{"execute":"` + command + `"}` + "\n"))
		ch <- reply{b, err}
	}()
	answer := func(r reply) (json.RawMessage, error) {
		if r.err != nil {
			return nil, fmt.Errorf("QMP %s: %w", command, r.err)
		}
		var resp struct {
			Return json.RawMessage `json:"return"`
		}
		if err := json.Unmarshal(r.b, &resp); err != nil {
			return nil, fmt.Errorf("QMP %s: %w", command, err)
		}
		return resp.Return, nil
	}
	select {
	case r := <-ch:
		return answer(r)
	case <-q.done:
		// QEMU may answer and close at once ("quit"): a reply read before
		// the close is still on its way, and it wins.
		select {
		case r := <-ch:
			return answer(r)
		case <-time.After(closeGrace):
		}
		return nil, fmt.Errorf("QMP %s: connection closed", command)
	case <-time.After(timeout):
		err := fmt.Errorf("QMP %s: no reply within %s", command, timeout)
		q.mu.Lock()
		q.broken = errors.Join(errors.New("QMP monitor unusable after an unanswered command"), err)
		q.mu.Unlock()
		return nil, err
	}
}

// Close drops the connection and waits for the event pump to end.
func (q *qmpClient) Close() error {
	var err error
	q.close.Do(func() {
		err = q.mon.Disconnect()
		<-q.done
	})
	return err
}
