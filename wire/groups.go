package wire

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/coordinator"
)

// groupCall runs call on the coordinator of group and answers with what it
// responds (possibly much later: a JoinGroup parks until the rebalance
// completes), or with fail(code) when this broker is not the coordinator.
// The connection goes on reading requests meanwhile.
func groupCall[T kmsg.Response](rc *reqCtx, group string, fail func(code int16) T,
	call func(c *coordinator.Coordinator, now time.Time, respond func(T))) kmsg.Response {
	ch := make(chan T, 1)
	rc.s.b.WithGroupCoordinator(group,
		func(c *coordinator.Coordinator, now time.Time) { call(c, now, func(r T) { ch <- r }) },
		func(code int16) { ch <- fail(code) })
	rc.later(func() kmsg.Response {
		select {
		case r := <-ch:
			return r
		case <-rc.Done():
			return fail(notCoordinator)
		}
	})
	return nil
}
