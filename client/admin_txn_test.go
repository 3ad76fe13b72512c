package client

import (
	"errors"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// listed returns the listing of id, failing if it is there more than once.
func listed(t *testing.T, lt []TransactionListing, id string) (TransactionListing, bool) {
	t.Helper()
	var found []TransactionListing
	for _, l := range lt {
		if l.TransactionalID == id {
			found = append(found, l)
		}
	}
	if len(found) > 1 {
		t.Fatalf("%s listed %d times: %+v", id, len(found), found)
	}
	if len(found) == 0 {
		return TransactionListing{}, false
	}
	return found[0], true
}

// An open transaction as ListTransactions and DescribeTransactions show it,
// each filter, and the same ID once the transaction is committed.
func TestAdminTransactions(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		a := newTestAdmin(t, tg)
		ctx := testCtx(t, 60*time.Second)
		topic := newTopic(t, tg, 2)
		txid := uniq("tx")
		p := newTestProducer(t, tg, WithTransactionalID(txid), WithTransactionTimeout(45*time.Second),
			WithPartitioner(ManualPartitioner()))
		if err := p.InitTransactions(ctx); err != nil {
			t.Fatal(err)
		}
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		begun := time.Now()
		if _, err := p.SendSync(ctx, &Record{Topic: topic, Partition: 1, Value: []byte("open")}); err != nil {
			t.Fatal(err)
		}

		lt, err := a.ListTransactions(ctx, TransactionFilter{States: []string{"Ongoing"}})
		if err != nil {
			t.Fatal(err)
		}
		l, ok := listed(t, lt, txid)
		if !ok || l.State != "Ongoing" || l.ProducerID < 0 || l.Coordinator < 0 {
			t.Fatalf("%s not listed as Ongoing: %+v", txid, lt)
		}
		for _, f := range []struct {
			filter TransactionFilter
			want   bool
		}{
			{TransactionFilter{States: []string{"CompleteCommit", "Empty"}}, false},
			{TransactionFilter{ProducerIDs: []int64{l.ProducerID}}, true},
			{TransactionFilter{ProducerIDs: []int64{l.ProducerID + 1}}, false},
			{TransactionFilter{Pattern: "^" + regexp.QuoteMeta(txid) + "$"}, true},
			{TransactionFilter{Pattern: "^no-such-id-"}, false},
			{TransactionFilter{MinDuration: time.Hour}, false},
			{TransactionFilter{MinDuration: time.Millisecond, States: []string{"Ongoing"}}, true},
		} {
			lt, err := a.ListTransactions(ctx, f.filter)
			if err != nil {
				t.Fatalf("%+v: %v", f.filter, err)
			}
			if _, ok := listed(t, lt, txid); ok != f.want {
				t.Fatalf("%+v: %s listed %v, want %v: %+v", f.filter, txid, ok, f.want, lt)
			}
			if f.filter.Pattern != "" && f.want && len(lt) != 1 {
				t.Fatalf("pattern %q matched %+v", f.filter.Pattern, lt)
			}
		}
		if _, err := a.ListTransactions(ctx, TransactionFilter{Pattern: "("}); !errors.Is(err, ErrInvalidRegularExpression) {
			t.Fatalf("bad pattern: %v", err)
		}

		unknown := uniq("never-used")
		dt, err := a.DescribeTransactions(ctx, txid, unknown)
		if err != nil {
			t.Fatal(err)
		}
		if len(dt) != 2 || dt[0].TransactionalID != txid || dt[1].TransactionalID != unknown {
			t.Fatalf("described %+v", dt)
		}
		d := dt[0]
		if d.Err != nil || d.State != "Ongoing" || d.ProducerID != l.ProducerID || d.ProducerEpoch < 0 ||
			d.Timeout != 45*time.Second || d.Coordinator < 0 ||
			!slices.Equal(d.Partitions, []TopicPartition{{topic, 1}}) {
			t.Fatalf("described %+v", d)
		}
		if d.Start.Before(begun.Add(-time.Minute)) || d.Start.After(time.Now().Add(time.Second)) {
			t.Fatalf("transaction started at %v, begun at %v", d.Start, begun)
		}
		if !errors.Is(dt[1].Err, ErrTransactionalIDNotFound) {
			t.Fatalf("unknown ID: %+v", dt[1])
		}

		if err := p.CommitTransaction(ctx); err != nil {
			t.Fatal(err)
		}
		// The commit completes asynchronously (markers); wait for it.
		for {
			dt, err = a.DescribeTransactions(ctx, txid)
			if err != nil || dt[0].Err != nil {
				t.Fatalf("after commit: %+v %v", dt, err)
			}
			if dt[0].State != "Ongoing" && dt[0].State != "PrepareCommit" {
				break
			}
			if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
				t.Fatalf("still %s: %v", dt[0].State, err)
			}
		}
		if d := dt[0]; !d.Start.IsZero() || len(d.Partitions) != 0 || d.ProducerID != l.ProducerID {
			t.Fatalf("after commit: %+v", d)
		}
		lt, err = a.ListTransactions(ctx, TransactionFilter{States: []string{"Ongoing"}})
		if _, ok := listed(t, lt, txid); err != nil || ok {
			t.Fatalf("Ongoing after commit: %+v %v", lt, err)
		}
	})
}

// A filter the broker's ListTransactions version cannot carry fails
// instead of silently listing everything. kfake only: it can be told to
// speak an older version.
func TestAdminListTransactionsOldBroker(t *testing.T) {
	vs := kversion.Stable()
	vs.SetMaxKeyVersion(kmsg.ListTransactions.Int16(), 0)
	tg := newKfake(t, kfake.MaxVersions(vs))
	a := newTestAdmin(t, tg)
	ctx := testCtx(t, 30*time.Second)
	for _, f := range []TransactionFilter{{MinDuration: time.Minute}, {Pattern: "^x"}} {
		if _, err := a.ListTransactions(ctx, f); !errors.Is(err, ErrUnsupportedVersion) {
			t.Fatalf("%+v on a v0 broker: %v", f, err)
		}
	}
	if _, err := a.ListTransactions(ctx, TransactionFilter{States: []string{"Ongoing"}}); err != nil {
		t.Fatalf("a v0 filter on a v0 broker: %v", err)
	}
}
