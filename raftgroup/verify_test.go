package raftgroup

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// writeControllerLog starts a one-node host, writes n controller entries and
// stops it, returning the data directory.
func writeControllerLog(t *testing.T, n int) (dir, addr string) {
	t.Helper()
	dir, addr = t.TempDir(), freeAddr(t)
	h, err := Start(Config{NodeID: 1, DataDir: dir, RaftAddr: addr})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := h.WaitLeader(ctx, ControllerShardID); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if _, err := h.AllocateProducerIDs(ctx, 1); err != nil {
			t.Fatal(err)
		}
	}
	h.Close()
	return dir, addr
}

func controllerLogFiles(t *testing.T, dir string) []string {
	t.Helper()
	logs, _ := filepath.Glob(filepath.Join(dir, "raft", "*", "*", "tandb", "node-1-1", "*.log"))
	if len(logs) == 0 {
		t.Fatal("no controller log files")
	}
	return logs
}

// dataEnd is where a preallocated tan log file's data ends.
func dataEnd(b []byte) int {
	end := len(b)
	for end > 0 && b[end-1] == 0 {
		end--
	}
	return end
}

// TestDamagedMidLog: the chunk walk tells a torn tail (fine: tan drops it)
// from damage in the middle of a log (valid data after the bad chunk).
func TestDamagedMidLog(t *testing.T) {
	dir, _ := writeControllerLog(t, 1500)
	var data []byte
	for _, l := range controllerLogFiles(t, dir) {
		b, err := os.ReadFile(l)
		if err != nil {
			t.Fatal(err)
		}
		if dataEnd(b) > dataEnd(data) {
			data = b
		}
	}
	end := dataEnd(data)
	if end < 3*tanBlockSize {
		t.Fatalf("log too short for the test: %d bytes", end)
	}
	if at, bad := damagedMidLog(data); bad {
		t.Fatalf("intact log reported damaged at %d", at)
	}
	torn := append([]byte(nil), data...)
	clear(torn[end-end/3 : end])
	if at, bad := damagedMidLog(torn); bad {
		t.Fatalf("torn tail reported as damage in the middle at %d", at)
	}
	// The last one is damage within the last block, before its last chunk.
	for _, where := range []int{end / 4, end / 2, tanBlockSize + 3, end - 2000} {
		mid := append([]byte(nil), data...)
		for i := where; i < where+300; i++ {
			mid[i] ^= 0x5a
		}
		if _, bad := damagedMidLog(mid); !bad {
			t.Fatalf("damage at byte %d of %d not found", where, end)
		}
	}
}

// TestStartRefusesDamagedControllerLog: a controller log damaged in the
// middle is found before dragonboat reads it and set aside; a node with no
// other broker to rebuild from refuses to start with a clear error.
func TestStartRefusesDamagedControllerLog(t *testing.T) {
	dir, addr := writeControllerLog(t, 400)
	for _, l := range controllerLogFiles(t, dir) {
		b, err := os.ReadFile(l)
		if err != nil {
			t.Fatal(err)
		}
		if end := dataEnd(b); end > tanBlockSize {
			for i := end / 3; i < end/3+4096; i++ {
				b[i] = byte(i*7 + 13)
			}
			if err := os.WriteFile(l, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	_, err := Start(Config{NodeID: 1, DataDir: dir, RaftAddr: addr})
	if err == nil || !strings.Contains(err.Error(), "lost or damaged") {
		t.Fatalf("start with a damaged controller log: %v", err)
	}
	aside, _ := filepath.Glob(filepath.Join(dir, "raft", "damaged", "node-1-1.*"))
	if len(aside) != 1 {
		t.Fatalf("damaged log not set aside: %v", aside)
	}
}

// FuzzDamagedMidLog: the chunk walk never panics on arbitrary bytes.
func FuzzDamagedMidLog(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, tanBlockSize+tanHeaderSize))
	f.Add([]byte{1, 2, 3, 4, 5, 0, 1, 9, 9, 9, 9, 9})
	f.Add(append(make([]byte, tanBlockSize-3), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x05, 1, 2, 3, 4))
	f.Fuzz(func(t *testing.T, data []byte) {
		at, _ := damagedMidLog(data)
		if at < 0 || at > len(data) {
			t.Fatalf("stop %d outside 0..%d", at, len(data))
		}
	})
}
