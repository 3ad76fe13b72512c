package partition

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// Small per-partition files. Kafka keeps the checkpoints in one file per log
// directory listing every partition; here each partition directory is
// self-contained, so each checkpoint holds a single offset. The format is
// Kafka's checkpoint layout reduced to that: a version line ("0") and the
// offset line.
const (
	// logStartOffsetCheckpoint persists the log start offset, which can lie
	// inside the first segment after DeleteRecords.
	logStartOffsetCheckpoint = "log-start-offset-checkpoint"
	// recoveryPointCheckpoint persists the offset below which every segment
	// has been fsynced; after an unclean shutdown only segments at or above
	// it are scanned.
	recoveryPointCheckpoint = "recovery-point-offset-checkpoint"
	// cleanerCheckpoint persists the first dirty offset of compaction.
	cleanerCheckpoint = "cleaner-offset-checkpoint"
	// resetCheckpoint holds the offset of a Reset (or snapshot restore)
	// in progress: while it exists the log's old contents are condemned,
	// and Open completes the reset by deleting every segment.
	resetCheckpoint = "reset-offset-checkpoint"
	// cleanShutdownFile is written by Close after everything was synced and
	// removed by Open; its absence at Open means the previous run crashed.
	cleanShutdownFile = ".clean_shutdown"
	tmpSuffix         = ".tmp"
)

// readCheckpoint returns the offset stored in dir/name. A missing or
// malformed file reports ok=false: every caller has a safe fallback (log
// start = first segment's base, recovery point 0 = scan everything, cleaner
// checkpoint = log start), so a damaged checkpoint costs time, not data.
func readCheckpoint(dir, name string) (off int64, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if len(lines) != 2 || string(bytes.TrimSpace(lines[0])) != "0" {
		return 0, false, nil
	}
	off, perr := strconv.ParseInt(string(bytes.TrimSpace(lines[1])), 10, 64)
	if perr != nil || off < 0 {
		return 0, false, nil
	}
	return off, true, nil
}

// writeCheckpoint replaces dir/name atomically: write a temporary file,
// fsync it, rename it over the old one and fsync the directory, so a crash
// leaves either the old or the new value, never a torn file.
func writeCheckpoint(dir, name string, off int64) error {
	return WriteFileAtomic(dir, name, fmt.Appendf(nil, "0\n%d\n", off))
}

// WriteFileAtomic replaces dir/name with data the same crash-safe way.
func WriteFileAtomic(dir, name string, data []byte) error {
	tmp := filepath.Join(dir, name+tmpSuffix)
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("partition: writing %s: %w", name, err)
	}
	return nil
}

// syncDir fsyncs a directory so that file creations, renames and removals in
// it are durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// removeIfExists deletes a file, treating an already missing file as done
// (recovery and retried compactions delete files that may be gone).
func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
