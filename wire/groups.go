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
	wait := startGroupCall(rc, group, fail, call)
	rc.later(func() kmsg.Response { return wait() })
	return nil
}

// startGroupCall starts call on group's coordinator and returns the wait
// for its answer.
func startGroupCall[T kmsg.Response](rc *reqCtx, group string, fail func(code int16) T,
	call func(c *coordinator.Coordinator, now time.Time, respond func(T))) func() T {
	ch := make(chan T, 1)
	rc.s.b.WithGroupCoordinator(rc, group,
		func(c *coordinator.Coordinator, now time.Time) { call(c, now, func(r T) { ch <- r }) },
		func(code int16) { ch <- fail(code) })
	return func() T {
		select {
		case r := <-ch:
			return r
		case <-rc.Done():
			return fail(notCoordinator)
		}
	}
}

// perGroup runs call (with the group's index) for each group on that group's coordinator (groups of
// one request may live on different coordinators) and returns a function,
// for rc.later, that collects the answers in request order; a group whose
// coordinator is elsewhere, or that does not answer before the connection
// closes, gets failed(group, code).
func perGroup[T any](rc *reqCtx, groups []string, failed func(group string, code int16) T,
	call func(c *coordinator.Coordinator, now time.Time, i int, respond func(T))) func() []T {
	chans := make([]chan T, len(groups))
	for i, g := range groups {
		ch := make(chan T, 1)
		chans[i] = ch
		i, g := i, g
		rc.s.b.WithGroupCoordinator(rc, g,
			func(c *coordinator.Coordinator, now time.Time) { call(c, now, i, func(r T) { ch <- r }) },
			func(code int16) { ch <- failed(g, code) })
	}
	return func() []T {
		out := make([]T, len(groups))
		for i, ch := range chans {
			select {
			case out[i] = <-ch:
			case <-rc.Done():
				out[i] = failed(groups[i], notCoordinator)
			}
		}
		return out
	}
}
