package wire

import (
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/coordinator"
)

// handleDescribeTransactions describes transactional IDs this broker
// coordinates (kafka-transactions.sh describe).
func handleDescribeTransactions(rc *reqCtx, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.DescribeTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	chans := make([]chan kmsg.DescribeTransactionsResponseTransactionState, len(req.TransactionalIDs))
	for i, id := range req.TransactionalIDs {
		ch := make(chan kmsg.DescribeTransactionsResponseTransactionState, 1)
		chans[i] = ch
		st := kmsg.NewDescribeTransactionsResponseTransactionState()
		st.TransactionalID, st.ProducerID, st.ProducerEpoch = id, -1, -1
		rc.s.b.WithTxnCoordinator(rc, id, func(c *coordinator.TxnCoordinator, _ time.Time) {
			m, ok := c.Describe(id)
			if !ok {
				st.ErrorCode = kerr.TransactionalIDNotFound.Code
				ch <- st
				return
			}
			st.State, st.TimeoutMillis, st.StartTimestamp = m.State.String(), m.TimeoutMs, m.StartMs
			st.ProducerID, st.ProducerEpoch = m.ProducerID, m.Epoch
			if m.State != kmsg.TransactionStateOngoing && m.State != kmsg.TransactionStatePrepareCommit && m.State != kmsg.TransactionStatePrepareAbort {
				st.StartTimestamp = -1
			}
			for _, tp := range m.Partitions {
				if n := len(st.Topics); n == 0 || st.Topics[n-1].Topic != tp.Topic {
					t := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
					t.Topic = tp.Topic
					st.Topics = append(st.Topics, t)
				}
				st.Topics[len(st.Topics)-1].Partitions = append(st.Topics[len(st.Topics)-1].Partitions, tp.Partition)
			}
			ch <- st
		}, func(code int16) {
			st.ErrorCode = code
			ch <- st
		})
	}
	rc.later(func() kmsg.Response {
		for _, ch := range chans {
			select {
			case st := <-ch:
				resp.TransactionStates = append(resp.TransactionStates, st)
			case <-rc.Done():
				return resp
			}
		}
		return resp
	})
	return nil
}

// handleListTransactions lists the transactional IDs this broker
// coordinates, filtered by state, producer ID, age of the open transaction
// (v1) and an ID pattern (v2).
func handleListTransactions(rc *reqCtx, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.ListTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
	known := kmsg.TransactionStateStrings()
	states := map[string]bool{}
	for _, s := range req.StateFilters {
		if slices.Contains(known, s) {
			states[s] = true
		} else {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, s)
		}
	}
	var pattern *regexp.Regexp
	if req.TransactionalIDPattern != nil && *req.TransactionalIDPattern != "" {
		p, err := regexp.Compile(*req.TransactionalIDPattern)
		if err != nil {
			resp.ErrorCode = kerr.InvalidRegularExpression.Code
			return resp
		}
		pattern = p
	}
	ctx, cancel := adminContext(rc, 0)
	defer cancel()
	var mu sync.Mutex // coordinators run fn concurrently, each on its actor
	rc.s.b.EachTxnCoordinator(ctx, func(c *coordinator.TxnCoordinator, now time.Time) {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range c.List() {
			switch {
			case len(req.StateFilters) > 0 && !states[m.State.String()]:
				continue
			case len(req.ProducerIDFilters) > 0 && !slices.Contains(req.ProducerIDFilters, m.ProducerID):
				continue
			case req.DurationFilterMillis > 0 && (m.State != kmsg.TransactionStateOngoing || now.UnixMilli()-m.StartMs < req.DurationFilterMillis):
				continue
			case pattern != nil && !pattern.MatchString(m.TransactionalID):
				continue
			}
			st := kmsg.NewListTransactionsResponseTransactionState()
			st.TransactionalID, st.ProducerID, st.TransactionState = m.TransactionalID, m.ProducerID, m.State.String()
			resp.TransactionStates = append(resp.TransactionStates, st)
		}
	})
	return resp
}
