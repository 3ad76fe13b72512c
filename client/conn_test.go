package client

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Many requests written back to back on one connection, before any
// response, all come back matched to their request.
func TestConnPipelining(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, 1)
		ctx := testCtx(t, 30*time.Second)
		c, err := dial(ctx, tg.addrs[0], newConfig(tg.opts()))
		if err != nil {
			t.Fatal(err)
		}
		defer c.close(&connError{addr: c.addr, err: ErrClosed})
		// Negotiation: never above what we implement or the broker allows.
		if v, err := c.version(kmsg.NewPtrFetchRequest()); err != nil || v != 12 {
			t.Fatalf("fetch version %d %v, want 12", v, err)
		}
		const n = 200
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Add(1)
			req := kmsg.NewPtrMetadataRequest()
			if i%2 == 0 { // alternate shapes so mismatched responses would show
				rt := kmsg.NewMetadataRequestTopic()
				rt.Topic = kmsg.StringPtr(topic)
				req.Topics = append(req.Topics, rt)
			} else {
				req.Topics = []kmsg.MetadataRequestTopic{}
			}
			c.send(ctx, req, 10*time.Second, func(resp kmsg.Response, err error) {
				defer wg.Done()
				if err != nil {
					errs <- err
					return
				}
				got := len(resp.(*kmsg.MetadataResponse).Topics)
				if want := 1 - i%2; got != want {
					errs <- fmt.Errorf("request %d: %d topics in response, want %d", i, got, want)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	})
}
