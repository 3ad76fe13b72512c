package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The helper member process: the test binary re-executed with these
// variables set runs TestGroupHelperProcessMember, a franz-go group member
// that consumes until it is killed.
const (
	helperBrokerEnv = "SAMSA_GROUP_HELPER_BROKER"
	helperGroupEnv  = "SAMSA_GROUP_HELPER_GROUP"
	helperTopicEnv  = "SAMSA_GROUP_HELPER_TOPIC"
)

// sessionTimeout is the members' session.timeout.ms in
// TestGroupSessionTimeoutMovesPartitions: the broker's minimum.
const sessionTimeout = 6 * time.Second

func sessionMemberOpts(group, topic string) []kgo.Opt {
	return []kgo.Opt{kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.Balancers(kgo.RangeBalancer()), kgo.SessionTimeout(sessionTimeout),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}
}

// TestGroupHelperProcessMember is not a test: see helperBrokerEnv.
func TestGroupHelperProcessMember(t *testing.T) {
	addr := os.Getenv(helperBrokerEnv)
	if addr == "" {
		t.Skip("helper process of TestGroupSessionTimeoutMovesPartitions")
	}
	opts := append(sessionMemberOpts(os.Getenv(helperGroupEnv), os.Getenv(helperTopicEnv)), kgo.SeedBrokers(addr),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
			fmt.Printf("assigned %v\n", a)
		}))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	for {
		fs := cl.PollFetches(context.Background())
		fmt.Printf("polled %d records\n", fs.NumRecords())
	}
}

// TestGroupSessionTimeoutMovesPartitions: one member of a two-member group
// is a separate process that is killed with SIGKILL (no LeaveGroup, no
// more heartbeats). After its session timeout the coordinator removes it,
// and the surviving member is assigned all partitions and consumes records
// produced to every one of them.
func TestGroupSessionTimeoutMovesPartitions(t *testing.T) {
	b := startBroker(t, "", fastGroups)
	ctx := testContext(t, 90*time.Second)
	adm := newAdmin(t, b.Addr())
	const (
		topic, group = "sessions", "sessions"
		partitions   = 6
	)
	if _, err := adm.CreateTopic(ctx, partitions, 1, nil, topic); err != nil {
		t.Fatal(err)
	}

	helper := exec.Command(os.Args[0], "-test.run=^TestGroupHelperProcessMember$", "-test.count=1")
	helper.Env = append(os.Environ(), helperBrokerEnv+"="+b.Addr(), helperGroupEnv+"="+group, helperTopicEnv+"="+topic)
	helperOut := &lockedBuffer{}
	helper.Stdout, helper.Stderr = helperOut, helperOut
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if helper.ProcessState == nil {
			helper.Process.Kill()
			helper.Wait()
		}
	})
	// The helper joins first and is the group leader.
	waitGroup(t, ctx, adm, group, topic, "the helper process as member",
		func(d kadm.DescribedGroup) bool { return balanced(d, topic, partitions, 1) })

	// The surviving member records what it reads per partition.
	var (
		mu     sync.Mutex
		got    = map[string]int32{}
		assign [][]int32
	)
	survivor := newClient(t, b.Addr(), append(sessionMemberOpts(group, topic),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
			mu.Lock()
			defer mu.Unlock()
			ps := slices.Clone(a[topic])
			slices.Sort(ps)
			assign = append(assign, ps)
		}))...)
	pollCtx, stopPolling := context.WithCancel(ctx)
	polling := make(chan struct{})
	go func() {
		defer close(polling)
		for pollCtx.Err() == nil {
			fs := survivor.PollFetches(pollCtx)
			fs.EachError(func(topic string, p int32, err error) {
				if !errors.Is(err, context.Canceled) {
					t.Errorf("survivor: fetch %s/%d: %v", topic, p, err)
				}
			})
			mu.Lock()
			fs.EachRecord(func(r *kgo.Record) { got[string(r.Value)] = r.Partition })
			mu.Unlock()
		}
	}()
	defer func() { stopPolling(); <-polling }()

	d := waitGroup(t, ctx, adm, group, topic, "two balanced members",
		func(d kadm.DescribedGroup) bool { return balanced(d, topic, partitions, 2) })
	t.Logf("before the kill: %s", groupSummary(d, topic))
	survivorID, _ := survivor.GroupMetadata()
	var helperID string
	for _, m := range d.Members {
		if m.MemberID != survivorID {
			helperID = m.MemberID
		}
	}

	if err := helper.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	helper.Wait()
	killed := time.Now()
	t.Logf("helper %s killed; its output:\n%s", helperID, helperOut.String())

	d = waitGroup(t, ctx, adm, group, topic, "the survivor alone with every partition",
		func(d kadm.DescribedGroup) bool { return balanced(d, topic, partitions, 1) })
	t.Logf("%v after the kill: %s", time.Since(killed).Round(time.Millisecond), groupSummary(d, topic))
	if d.Members[0].MemberID != survivorID {
		t.Fatalf("the remaining member is %s, not the survivor %s", d.Members[0].MemberID, survivorID)
	}

	// New records on every partition all reach the survivor.
	var recs []*kgo.Record
	for p := int32(0); p < partitions; p++ {
		for i := 0; i < 20; i++ {
			v := fmt.Sprintf("after-%d-%d", p, i)
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: []byte(v)})
		}
	}
	if err := newClient(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner())).ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the survivor to read every new record", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range recs {
			if p, ok := got[string(r.Value)]; !ok || p != r.Partition {
				return false
			}
		}
		return true
	})
	mu.Lock()
	defer mu.Unlock()
	if last := assign[len(assign)-1]; len(last) != partitions {
		t.Fatalf("survivor's assignments: %v", assign)
	}
	t.Logf("survivor's assignments: %v", assign)
}

// lockedBuffer collects a child process's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
