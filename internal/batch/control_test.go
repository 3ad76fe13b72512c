package batch

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestMarkerRoundTrip: markers we build are what Kafka's clients parse as
// control records (kmsg's EndTxnMarker key/value), and ControlType reads them.
func TestMarkerRoundTrip(t *testing.T) {
	for _, commit := range []bool{false, true} {
		b := BuildMarker(42, 3, commit, 7, 1000)
		h, err := CheckCRC(b)
		if err != nil {
			t.Fatal(err)
		}
		if !h.IsControl() || !h.IsTransactional() || h.ProducerID != 42 || h.ProducerEpoch != 3 || h.BaseSequence != -1 {
			t.Fatalf("header %+v", h)
		}
		typ, ok := ControlType(b)
		if !ok || (typ == ControlCommit) != commit {
			t.Fatalf("commit=%v: type %d ok %v", commit, typ, ok)
		}
		_, recs, _ := Records(b)
		var key kmsg.ControlRecordKey
		if err := key.ReadFrom(recs[0].Key); err != nil {
			t.Fatal(err)
		}
		if (key.Type == kmsg.ControlRecordKeyTypeCommit) != commit {
			t.Fatalf("kmsg reads type %v", key.Type)
		}
		var val kmsg.EndTxnMarker
		if err := val.ReadFrom(recs[0].Value); err != nil || val.CoordinatorEpoch != 7 {
			t.Fatalf("marker value %+v %v", val, err)
		}
	}
	if _, ok := ControlType(mustBuild(t, sampleHeader(None, 3), sampleRecords(3, 10))); ok {
		t.Fatal("a data batch is not a marker")
	}
}
