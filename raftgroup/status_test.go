package raftgroup

import (
	"encoding/json"
	"testing"

	sm "github.com/lni/dragonboat/v4/statemachine"
)

func TestReplicaReportsTrackLivenessAndCatchUp(t *testing.T) {
	c := newControllerSM(nil)
	h := &Host{controller: c}
	propose := func(i uint64, cmd *Command) {
		data, _ := json.Marshal(cmd)
		if _, err := c.Update(sm.Entry{Index: i, Cmd: data}); err != nil {
			t.Fatal(err)
		}
	}
	propose(1, &Command{LeaderChange: &LeaderChange{ShardID: 1000, Leader: 1, Epoch: 2}})
	propose(2, &Command{ReplicaReport: &ReplicaReport{Node: 1, TimeMs: 1000, Ends: map[uint64]int64{1000: 50}}})
	propose(3, &Command{ReplicaReport: &ReplicaReport{Node: 2, TimeMs: 1100, Ends: map[uint64]int64{1000: 50}}})
	propose(4, &Command{ReplicaReport: &ReplicaReport{Node: 3, TimeMs: 1200, Ends: map[uint64]int64{1000: 10}}})
	if last, ok := h.BrokerLastSeen(2); !ok || last != 1100 {
		t.Fatalf("last seen of broker 2: %d %v", last, ok)
	}
	st := h.ReplicaStatus(1000)
	if st[2].CaughtUpMs != 1100 || st[3].CaughtUpMs != 0 || st[1].CaughtUpMs != 1000 {
		t.Fatalf("catch-up: %+v", st)
	}
}

// TestReplicaStatusForgetsRestartsAndDroppedReplicas: a broker that
// registers again (a restart) and a replica a report no longer lists lose
// their catch-up status, so a restarted or rebuilt replica is not in the
// ISR on the strength of what it had before.
func TestReplicaStatusForgetsRestartsAndDroppedReplicas(t *testing.T) {
	c := newControllerSM(nil)
	h := &Host{controller: c}
	i := uint64(0)
	propose := func(cmd *Command) {
		i++
		data, _ := json.Marshal(cmd)
		if _, err := c.Update(sm.Entry{Index: i, Cmd: data}); err != nil {
			t.Fatal(err)
		}
	}
	propose(&Command{LeaderChange: &LeaderChange{ShardID: 1000, Leader: 1, Epoch: 2}})
	propose(&Command{LeaderChange: &LeaderChange{ShardID: 1001, Leader: 1, Epoch: 2}})
	propose(&Command{ReplicaReport: &ReplicaReport{Node: 1, TimeMs: 1000, Ends: map[uint64]int64{1000: 50, 1001: 7}}})
	propose(&Command{ReplicaReport: &ReplicaReport{Node: 2, TimeMs: 1100, Ends: map[uint64]int64{1000: 50, 1001: 7}}})
	if _, ok := h.ReplicaStatus(1001)[2]; !ok {
		t.Fatal("no status for broker 2's replica")
	}
	propose(&Command{ReplicaReport: &ReplicaReport{Node: 2, TimeMs: 1200, Ends: map[uint64]int64{1000: 50}}})
	if _, ok := h.ReplicaStatus(1001)[2]; ok {
		t.Fatal("a replica broker 2 no longer reports keeps its status")
	}
	propose(&Command{RegisterBroker: &Broker{NodeID: 2}})
	if _, ok := h.ReplicaStatus(1000)[2]; ok {
		t.Fatal("a restarted broker keeps its replicas' status")
	}
	if st := h.ReplicaStatus(1000)[1]; st.CaughtUpMs != 1000 {
		t.Fatalf("broker 1's status changed: %+v", st)
	}
}
