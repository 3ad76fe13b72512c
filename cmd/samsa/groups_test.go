package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/samsa-io/samsa/client"
	"github.com/twmb/franz-go/pkg/kfake"
)

// describeRows returns the partition rows of a single-group describe,
// fields joined by one space, without the GROUP column.
func describeRows(t *testing.T, b, group string) string {
	t.Helper()
	out := mustSamsa(t, b, "", "groups", "describe", group)
	summary, table, ok := strings.Cut(fields(out), "\n\n")
	if !ok || !strings.HasPrefix(summary, "GROUP STATE PROTOCOL MEMBERS COORDINATOR\n"+group+" ") {
		t.Fatalf("describe %s: unexpected layout:\n%s", group, out)
	}
	hdr, rows, _ := strings.Cut(table, "\n")
	if hdr != "GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID" {
		t.Fatalf("describe %s: header %q", group, hdr)
	}
	var s strings.Builder
	for line := range strings.Lines(rows) {
		g, rest, _ := strings.Cut(line, " ")
		if g != group {
			t.Fatalf("describe %s: row %q", group, line)
		}
		s.WriteString(rest)
	}
	return s.String()
}

func TestGroupsLifecycle(t *testing.T) {
	b := newCluster(t, kfake.SeedTopics(2, "jobs"), kfake.SeedTopics(1, "other"))
	mustSamsa(t, b, "1\n2\n3\n4\n5\n", "produce", "jobs", "--partition", "0")
	mustSamsa(t, b, "a\nb\nc\n", "produce", "jobs", "--partition", "1")
	mustSamsa(t, b, "w\nx\ny\nz\n", "produce", "other")

	// Consume everything as group g, then produce more: lag 2 on p0.
	mustSamsa(t, b, "", "consume", "jobs", "--group", "g", "--from-beginning", "--max-messages", "8")
	mustSamsa(t, b, "6\n7\n", "produce", "jobs", "--partition", "0")

	if out := mustSamsa(t, b, "", "groups", "list"); fields(out) != "g Empty consumer\n" {
		t.Fatalf("list: %q", out)
	}
	if out := mustSamsa(t, b, "", "groups", "list", "--state", "stable,PreparingRebalance"); out != "" {
		t.Fatalf("list --state stable: %q", out)
	}
	if out := mustSamsa(t, b, "", "groups", "list", "--state", "Empty"); fields(out) != "g Empty consumer\n" {
		t.Fatalf("list --state Empty: %q", out)
	}

	out, errOut, err := samsa(t, b, "", "groups", "describe", "g")
	if err != nil {
		t.Fatalf("describe: %v (%s)", err, errOut)
	}
	if !strings.HasPrefix(fields(out), "GROUP STATE PROTOCOL MEMBERS COORDINATOR\ng Empty - 0 127.0.0.1:") {
		t.Fatalf("describe summary:\n%s", out)
	}
	if !strings.Contains(errOut, "Consumer group 'g' has no active members.") {
		t.Fatalf("describe stderr %q", errOut)
	}
	const consumed = "jobs 0 5 7 2 - - -\njobs 1 3 3 0 - - -\n"
	if got := describeRows(t, b, "g"); got != consumed {
		t.Fatalf("describe rows:\n%s\nwant:\n%s", got, consumed)
	}

	// Dry run: prints the plan, commits nothing.
	out, errOut, err = samsa(t, b, "", "groups", "reset-offsets", "g", "--topic", "jobs", "--to-earliest")
	if err != nil {
		t.Fatalf("dry run: %v (%s)", err, errOut)
	}
	if want := "TOPIC PARTITION CURRENT NEW\njobs 0 5 0\njobs 1 3 0\n"; fields(out) != want {
		t.Fatalf("dry-run plan %q, want %q", fields(out), want)
	}
	if !strings.Contains(errOut, "Dry run") {
		t.Fatalf("dry-run stderr %q", errOut)
	}
	if got := describeRows(t, b, "g"); got != consumed {
		t.Fatalf("dry run changed offsets:\n%s", got)
	}

	// --to-offset on one partition.
	out = mustSamsa(t, b, "", "groups", "reset-offsets", "g", "--topic", "jobs:0", "--to-offset", "4", "--execute")
	if want := "TOPIC PARTITION CURRENT NEW\njobs 0 5 4\n"; fields(out) != want {
		t.Fatalf("to-offset plan %q", out)
	}
	if got, want := describeRows(t, b, "g"), "jobs 0 4 7 3 - - -\njobs 1 3 3 0 - - -\n"; got != want {
		t.Fatalf("after --to-offset 4:\n%s", got)
	}

	// --shift-by -2 over everything the group committed, clamped at 0.
	mustSamsa(t, b, "", "groups", "reset-offsets", "g", "--all-topics", "--shift-by", "-2", "--execute")
	if got, want := describeRows(t, b, "g"), "jobs 0 2 7 5 - - -\njobs 1 1 3 2 - - -\n"; got != want {
		t.Fatalf("after --shift-by -2:\n%s", got)
	}
	out, errOut, err = samsa(t, b, "", "groups", "reset-offsets", "g", "--all-topics", "--shift-by", "-2", "--execute")
	if err != nil || !strings.Contains(errOut, "before the log start offset; using 0") {
		t.Fatalf("clamped shift: %v %q", err, errOut)
	}
	if want := "TOPIC PARTITION CURRENT NEW\njobs 0 2 0\njobs 1 1 0\n"; fields(out) != want {
		t.Fatalf("clamped shift plan %q", out)
	}

	// Clamped at the log end; a topic without commits shows "-".
	_, errOut, err = samsa(t, b, "", "groups", "reset-offsets", "g", "--topic", "jobs:1", "--to-offset", "100", "--execute")
	if err != nil || !strings.Contains(errOut, "after the log end offset; using 3") {
		t.Fatalf("to-offset beyond end: %v %q", err, errOut)
	}
	out = mustSamsa(t, b, "", "groups", "reset-offsets", "g", "--topic", "other", "--to-latest", "--execute")
	if want := "TOPIC PARTITION CURRENT NEW\nother 0 - 4\n"; fields(out) != want {
		t.Fatalf("to-latest plan %q", out)
	}
	if got, want := describeRows(t, b, "g"), "jobs 0 0 7 7 - - -\njobs 1 3 3 0 - - -\nother 0 4 4 0 - - -\n"; got != want {
		t.Fatalf("after --to-latest:\n%s", got)
	}

	// Repeated --topic; partitions given twice count once.
	out = mustSamsa(t, b, "", "groups", "reset-offsets", "g", "--topic", "jobs:1,0", "--topic", "jobs:1", "--topic", "other",
		"--to-earliest")
	if want := "TOPIC PARTITION CURRENT NEW\njobs 0 0 0\njobs 1 3 0\nother 0 4 0\n"; fields(out) != want {
		t.Fatalf("multi-topic plan %q", out)
	}

	mustSamsa(t, b, "", "groups", "delete", "g")
	if out := mustSamsa(t, b, "", "groups", "list"); out != "" {
		t.Fatalf("list after delete: %q", out)
	}
	if _, _, err := samsa(t, b, "", "groups", "delete", "g"); err == nil || !strings.Contains(err.Error(), "group g: GROUP_ID_NOT_FOUND") {
		t.Fatalf("delete deleted group: %v", err)
	}
	if _, _, err := samsa(t, b, "", "groups", "describe", "g"); err == nil || !strings.Contains(err.Error(), "group g: GROUP_ID_NOT_FOUND") {
		t.Fatalf("describe deleted group: %v", err)
	}
}

func TestGroupsResetToDatetime(t *testing.T) {
	b := newCluster(t, kfake.SeedTopics(1, "ts"))
	mustSamsa(t, b, "old\n", "produce", "ts")
	time.Sleep(50 * time.Millisecond)
	mid := time.Now().UTC()
	time.Sleep(50 * time.Millisecond)
	mustSamsa(t, b, "new1\nnew2\n", "produce", "ts")

	// A group that does not exist yet can be given offsets (Kafka too).
	cases := []struct{ at, want string }{
		{mid.Format("2006-01-02T15:04:05.000Z07:00"), "1"},
		{mid.Add(-time.Hour).In(time.FixedZone("", 3600)).Format("2006-01-02T15:04:05.000-0700"), "0"},
		{"2000-01-01T00:00:00Z", "0"},
		{mid.Add(time.Hour).Format(time.RFC3339), "3"}, // nothing after: log end
	}
	for _, tc := range cases {
		out := mustSamsa(t, b, "", "groups", "reset-offsets", "dt", "--topic", "ts", "--to-datetime", tc.at, "--execute")
		if want := "TOPIC PARTITION CURRENT NEW\nts 0 "; !strings.HasPrefix(fields(out), want) ||
			!strings.HasSuffix(fields(out), " "+tc.want+"\n") {
			t.Fatalf("--to-datetime %s: %q, want new offset %s", tc.at, out, tc.want)
		}
		if got := describeRows(t, b, "dt"); !strings.HasPrefix(got, "ts 0 "+tc.want+" 3 ") {
			t.Fatalf("--to-datetime %s: describe %q", tc.at, got)
		}
	}
	// Consuming as the group resumes where the reset put it.
	mustSamsa(t, b, "", "groups", "reset-offsets", "dt", "--topic", "ts", "--to-datetime", cases[0].at, "--execute")
	if out := mustSamsa(t, b, "", "consume", "ts", "--group", "dt", "--max-messages", "2"); out != "new1\nnew2\n" {
		t.Fatalf("consumed after reset: %q", out)
	}
}

// An active member owns partitions: describe names it, uncommitted
// partitions show "-", and reset --execute and delete refuse.
func TestGroupsActiveMember(t *testing.T) {
	b := newCluster(t, kfake.SeedTopics(2, "jobs"))
	mustSamsa(t, b, "1\n2\n3\n", "produce", "jobs", "--partition", "0")
	mustSamsa(t, b, "a\n", "produce", "jobs", "--partition", "1")

	cl, err := client.NewConsumer(client.WithBrokers(strings.Split(b, ",")...), client.WithClientID("tester"),
		client.WithGroupID("live"), client.WithAssignors(client.CooperativeStickyAssignor()),
		client.WithAutoOffsetReset(client.ResetEarliest), client.WithAutoCommit(false))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	defer cl.Close(ctx)
	if err := cl.Subscribe("jobs"); err != nil {
		t.Fatal(err)
	}
	for n := 0; n < 4; {
		recs, err := cl.Poll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n += len(recs)
	}
	member := cl.GroupMetadata().MemberID

	// The group may still be settling; wait for the assignment to show.
	var rows string
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		rows = describeRows(t, b, "live")
		if strings.Count(rows, member) == 2 || time.Now().After(deadline) {
			break
		}
	}
	// Assigned but not committed: CURRENT-OFFSET and LAG are "-".
	lines := strings.Split(strings.TrimSuffix(rows, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("describe with member %s:\n%s", member, rows)
	}
	for i, want := range []string{"jobs 0 - 3 -", "jobs 1 - 1 -"} {
		f := strings.Fields(lines[i])
		if strings.Join(f[:5], " ") != want || f[5] != member || f[6] == "-" || f[7] != "tester" {
			t.Fatalf("describe with member %s: row %q, want %q %s HOST tester", member, lines[i], want, member)
		}
	}
	out := mustSamsa(t, b, "", "groups", "describe", "live")
	if !strings.HasPrefix(fields(out), "GROUP STATE PROTOCOL MEMBERS COORDINATOR\nlive Stable cooperative-sticky 1 ") {
		t.Fatalf("describe summary:\n%s", out)
	}

	if err := cl.CommitSync(ctx); err != nil {
		t.Fatal(err)
	}
	rows = describeRows(t, b, "live")
	if !strings.HasPrefix(rows, "jobs 0 3 3 0 "+member+" ") || !strings.Contains(rows, "\njobs 1 1 1 0 "+member+" ") {
		t.Fatalf("describe after commit:\n%s", rows)
	}
	if out := mustSamsa(t, b, "", "groups", "list"); fields(out) != "live Stable consumer\n" {
		t.Fatalf("list: %q", out)
	}

	// A dry run still plans (with a warning); --execute refuses.
	out, errOut, err := samsa(t, b, "", "groups", "reset-offsets", "live", "--topic", "jobs", "--to-earliest")
	if err != nil || fields(out) != "TOPIC PARTITION CURRENT NEW\njobs 0 3 0\njobs 1 1 0\n" ||
		!strings.Contains(errOut, "group live is Stable") {
		t.Fatalf("dry run on active group: %v %q %q", err, out, errOut)
	}
	_, _, err = samsa(t, b, "", "groups", "reset-offsets", "live", "--topic", "jobs", "--to-earliest", "--execute")
	if err == nil || !strings.Contains(err.Error(), "offsets can only be reset while the group is inactive") {
		t.Fatalf("reset of active group: %v", err)
	}
	_, _, err = samsa(t, b, "", "groups", "delete", "live")
	if err == nil || !strings.Contains(err.Error(), "group live: NON_EMPTY_GROUP") ||
		!strings.Contains(err.Error(), "stop its consumers first") {
		t.Fatalf("delete of active group: %v", err)
	}

	if err := cl.Close(ctx); err != nil { // leaves the group
		t.Fatal(err)
	}
	mustSamsa(t, b, "", "groups", "reset-offsets", "live", "--topic", "jobs", "--to-earliest", "--execute")
	if got, want := describeRows(t, b, "live"), "jobs 0 0 3 3 - - -\njobs 1 0 1 1 - - -\n"; got != want {
		t.Fatalf("after reset:\n%s", got)
	}
	if out := mustSamsa(t, b, "", "groups", "delete", "live"); out != "Deleted group live.\n" {
		t.Fatalf("delete: %q", out)
	}
}

// consume --group commits the partitions it printed from, not every
// partition it was assigned, as describe shows.
func TestConsumeGroupCommitsOnlyPrintedPartitions(t *testing.T) {
	b := newCluster(t, kfake.SeedTopics(2, "jobs"))
	mustSamsa(t, b, "a\nb\n", "produce", "jobs", "--partition", "0")
	mustSamsa(t, b, "", "consume", "jobs", "--group", "g", "--from-beginning", "--max-messages", "2")
	if got, want := describeRows(t, b, "g"), "jobs 0 2 2 0 - - -\n"; got != want {
		t.Fatalf("describe after consuming partition 0 only:\n%s\nwant:\n%s", got, want)
	}
}

func TestGroupsErrors(t *testing.T) {
	b := newCluster(t, kfake.SeedTopics(2, "t"))
	mustSamsa(t, b, "x\n", "produce", "t", "--partition", "0")
	mustSamsa(t, b, "", "groups", "reset-offsets", "g", "--topic", "t:0", "--to-latest", "--execute")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"groups", "list", "--state", "sleepy"}, `--state "sleepy"`},
		{[]string{"groups", "describe"}, "no group given"},
		{[]string{"groups", "describe", "nope"}, "group nope: GROUP_ID_NOT_FOUND"},
		{[]string{"groups", "delete"}, "requires at least 1 arg"},
		{[]string{"groups", "reset-offsets", "g", "--topic", "t"}, "at least one of the flags in the group [to-earliest"},
		{[]string{"groups", "reset-offsets", "g", "--topic", "t", "--to-earliest", "--to-latest"}, "none of the others can be"},
		{[]string{"groups", "reset-offsets", "g", "--to-earliest"}, "at least one of the flags in the group [topic all-topics]"},
		{[]string{"groups", "reset-offsets", "g", "--topic", "t", "--all-topics", "--to-earliest"}, "none of the others can be"},
		{[]string{"groups", "reset-offsets", "g", "--topic", "t:x", "--to-earliest"}, `partition "x" is not a partition number`},
		{[]string{"groups", "reset-offsets", "g", "--topic", ":1", "--to-earliest"}, "want TOPIC or TOPIC:P[,P...]"},
		{[]string{"groups", "reset-offsets", "g", "--topic", "missing", "--to-earliest"}, "topic missing: UNKNOWN_TOPIC_OR_PARTITION"},
		{[]string{"groups", "reset-offsets", "g", "--topic", "t:5", "--to-earliest"}, "topic t: partition 5 does not exist (2 partitions)"},
		{[]string{"groups", "reset-offsets", "g", "--topic", "t", "--shift-by", "1"}, "topic t partition 1: group g has no committed offset to shift"},
		{[]string{"groups", "reset-offsets", "g", "--topic", "t", "--to-datetime", "yesterday"}, `--to-datetime "yesterday"`},
		{[]string{"groups", "reset-offsets", "fresh", "--all-topics", "--to-earliest"}, "group fresh has no committed offsets"},
	}
	for _, tc := range cases {
		_, _, err := samsa(t, b, "", tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("samsa %s: error %v, want it to contain %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
	// The failed attempts changed nothing.
	if got, want := describeRows(t, b, "g"), "t 0 1 1 0 - - -\n"; got != want {
		t.Fatalf("describe g: %q", got)
	}
}

func TestParseDatetime(t *testing.T) {
	want := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, s := range []string{"2024-01-01T00:00:00Z", "2024-01-01T00:00:00.000Z", "2024-01-01T01:00:00+01:00",
		"2024-01-01T01:00:00.000+0100"} {
		got, err := parseDatetime(s)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseDatetime(%q) = %v, %v", s, got, err)
		}
	}
	got, err := parseDatetime("2024-01-01T00:00:00.500")
	if err != nil || !got.Equal(time.Date(2024, 1, 1, 0, 0, 0, 5e8, time.Local)) {
		t.Errorf("local time: %v, %v", got, err)
	}
}
