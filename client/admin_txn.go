package client

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TransactionFilter narrows ListTransactions; zero fields do not filter.
type TransactionFilter struct {
	// States keeps transactions in one of these states: Empty, Ongoing,
	// PrepareCommit, PrepareAbort, CompleteCommit, CompleteAbort,
	// PrepareEpochFence, Dead.
	States []string
	// ProducerIDs keeps the transactional IDs of these producers.
	ProducerIDs []int64
	// MinDuration keeps transactions open at least this long
	// (ListTransactions v1+, KIP-994).
	MinDuration time.Duration
	// Pattern is a regular expression the transactional ID must match
	// (ListTransactions v2+, KIP-1152).
	Pattern string
}

// TransactionListing is a transactional ID as ListTransactions reports it.
type TransactionListing struct {
	TransactionalID string
	ProducerID      int64
	State           string
	Coordinator     int32 // the broker coordinating it
}

// ListTransactions lists the transactional IDs every broker coordinates, as
// kafka-transactions.sh list, sorted by ID. A filter that a broker's
// ListTransactions version cannot carry fails with ErrUnsupportedVersion
// rather than return an unfiltered listing. When some brokers fail, it
// returns what the others listed together with an error naming each failed
// broker.
func (a *Admin) ListTransactions(ctx context.Context, f TransactionFilter) ([]TransactionListing, error) {
	var out []TransactionListing
	err := a.eachBroker(ctx, func() kmsg.Request {
		req := kmsg.NewPtrListTransactionsRequest()
		req.StateFilters, req.ProducerIDFilters = f.States, f.ProducerIDs
		req.DurationFilterMillis = -1
		if f.MinDuration > 0 {
			req.DurationFilterMillis = f.MinDuration.Milliseconds()
		}
		if f.Pattern != "" {
			req.TransactionalIDPattern = &f.Pattern
		}
		return req
	}, func(id int32, resp kmsg.Response) error {
		r := resp.(*kmsg.ListTransactionsResponse)
		// The request is encoded at the negotiated version, which
		// silently drops fields that version lacks.
		switch v := r.GetVersion(); {
		case f.MinDuration > 0 && v < 1:
			return fmt.Errorf("duration filter needs ListTransactions v1, broker speaks v%d: %w", v, ErrUnsupportedVersion)
		case f.Pattern != "" && v < 2:
			return fmt.Errorf("pattern filter needs ListTransactions v2, broker speaks v%d: %w", v, ErrUnsupportedVersion)
		}
		if err := ErrorForCode(r.ErrorCode); err != nil {
			return err
		}
		for _, t := range r.TransactionStates {
			out = append(out, TransactionListing{
				TransactionalID: t.TransactionalID, ProducerID: t.ProducerID, State: t.TransactionState, Coordinator: id,
			})
		}
		return nil
	})
	// One entry per ID: kfake, unlike Kafka, has every broker report all.
	out = uniqueBy(out, func(t TransactionListing) string { return t.TransactionalID })
	if err != nil {
		return out, fmt.Errorf("client: ListTransactions: %w", err)
	}
	return out, nil
}

// TransactionDescription describes a transactional ID and its open
// transaction, if any.
type TransactionDescription struct {
	TransactionalID string
	Coordinator     int32
	State           string
	ProducerID      int64
	ProducerEpoch   int16
	Timeout         time.Duration // transaction.timeout.ms
	// Start is when the open transaction began; zero when none is open.
	Start time.Time
	// Partitions are those the open transaction has written to, sorted.
	Partitions []TopicPartition
	// Err is the broker's error for this ID, e.g. ErrTransactionalIDNotFound.
	Err error
}

// DescribeTransactions describes transactional IDs, in the order given, each
// asked of its transaction coordinator (kafka-transactions.sh describe). An
// ID that cannot be described has Err set; the call itself fails only when
// ctx ends.
func (a *Admin) DescribeTransactions(ctx context.Context, ids ...string) ([]TransactionDescription, error) {
	out := make([]TransactionDescription, 0, len(ids))
	for _, id := range ids {
		req := kmsg.NewPtrDescribeTransactionsRequest()
		req.TransactionalIDs = []string{id}
		resp, coord, err := a.coordRequest(ctx, id, coordTxn, req, func(r kmsg.Response) int16 {
			if ts := r.(*kmsg.DescribeTransactionsResponse).TransactionStates; len(ts) > 0 {
				return ts[0].ErrorCode
			}
			return 0
		})
		td := TransactionDescription{TransactionalID: id, Coordinator: coord, Err: err}
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("client: DescribeTransactions %s: %w", id, err)
			}
			out = append(out, td)
			continue
		}
		states := resp.(*kmsg.DescribeTransactionsResponse).TransactionStates
		if len(states) != 1 || states[0].TransactionalID != id {
			td.Err = fmt.Errorf("client: DescribeTransactions %s: the coordinator answered for %d other IDs", id, len(states))
			out = append(out, td)
			continue
		}
		s := states[0]
		td.Err = ErrorForCode(s.ErrorCode)
		td.State, td.ProducerID, td.ProducerEpoch = s.State, s.ProducerID, s.ProducerEpoch
		td.Timeout = time.Duration(s.TimeoutMillis) * time.Millisecond
		if s.StartTimestamp > 0 {
			td.Start = time.UnixMilli(s.StartTimestamp)
		}
		for _, t := range s.Topics {
			for _, p := range t.Partitions {
				td.Partitions = append(td.Partitions, TopicPartition{t.Topic, p})
			}
		}
		slices.SortFunc(td.Partitions, compareTP)
		out = append(out, td)
	}
	return out, nil
}
