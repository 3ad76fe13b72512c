package client

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"
)

// clientGoroutines counts goroutines running this package's code (test
// functions aside), returning their stacks for the failure message. Counting
// only ours keeps the broker's own goroutines from blurring the result.
func clientGoroutines() (int, string) {
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	var leaked []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if !strings.Contains(g, "samsa/client.") {
			continue
		}
		if strings.Contains(g, "samsa/client.Test") || strings.Contains(g, "samsa/client.forEachTarget") || strings.Contains(g, "client.clientGoroutines") {
			continue
		}
		n++
		leaked = append(leaked, g)
	}
	return n, strings.Join(leaked, "\n\n")
}

// After Close, no goroutine of a producer, consumer (group member) or admin
// is left.
func TestNoGoroutineLeaks(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, 2)
		// Let the topic helper's admin finish closing.
		waitGoroutines(t, 0)
		before, _ := clientGoroutines()
		ctx := testCtx(t, 60*time.Second)

		p, err := NewProducer(tg.opts()...)
		if err != nil {
			t.Fatal(err)
		}
		produceN(t, p, topic, 50, nil)
		c, err := NewConsumer(tg.opts(groupOpts(uniq("g"))...)...)
		if err != nil {
			t.Fatal(err)
		}
		c.Subscribe(topic)
		consumeN(t, ctx, c, 50)
		c.CommitAsync(nil)
		a, err := NewAdmin(tg.opts()...)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.ListTopics(ctx); err != nil {
			t.Fatal(err)
		}
		if n, _ := clientGoroutines(); n <= before {
			t.Fatalf("counting is broken: %d goroutines while running", n)
		}
		if err := p.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if err := c.Close(ctx); err != nil {
			t.Fatal(err)
		}
		a.Close()
		waitGoroutines(t, before)
	})
}

// waitGoroutines waits (bounded) for the count to drop to want: goroutines
// that were told to stop may need a moment to be scheduled.
func waitGoroutines(t *testing.T, want int) {
	t.Helper()
	var n int
	var stacks string
	for range 200 {
		if n, stacks = clientGoroutines(); n <= want {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%d client goroutines left, want %d:\n%s", n, want, stacks)
}

// Close may be called concurrently and more than once.
func TestConcurrentClose(t *testing.T) {
	tg := newKfake(t)
	topic := newTopic(t, tg, 1)
	p := newTestProducer(t, tg)
	produceN(t, p, topic, 10, nil)
	c := newTestConsumer(t, tg, groupOpts(uniq("g"))...)
	c.Subscribe(topic)
	consumeN(t, testCtx(t, 30*time.Second), c, 10)
	done := make(chan struct{})
	for range 3 {
		go func() {
			p.Close(context.Background())
			c.Close(context.Background())
			done <- struct{}{}
		}()
	}
	for range 3 {
		<-done
	}
	if _, err := c.Poll(context.Background()); err != ErrClosed {
		t.Fatalf("poll after close: %v", err)
	}
}
