package bench

import (
	"fmt"
	"strconv"
)

// Cell is one point of the benchmark matrix: a replication factor, record
// size, codec and acks mode. Idempotence is part of the acks mode ("all"
// is idempotent, "all-noidem" is not; franz-go allows idempotence only
// with acks=all).
type Cell struct {
	ReplicationFactor int16  `json:"replication_factor"` // -1 = broker default
	RecordSize        int    `json:"record_size,omitempty"`
	Compression       string `json:"compression,omitempty"`
	Acks              string `json:"acks,omitempty"`
}

// Cells expands the configuration's matrix in execution order: replication
// factor outermost (one topic each), then record size, codec and acks mode
// innermost, so the modes compared most often run next to each other.
func (c Config) Cells() []Cell {
	c = c.withDefaults()
	var cells []Cell
	for _, rf := range c.ReplicationFactors {
		for _, size := range c.RecordSizes {
			for _, codec := range c.Compressions {
				for _, acks := range c.Acks {
					cells = append(cells, Cell{ReplicationFactor: rf, RecordSize: size, Compression: codec, Acks: acks})
				}
			}
		}
	}
	return cells
}

// CellRecords is how many timed records a cell produces per run: Records,
// capped at MaxCellBytes of values so large records do not multiply the
// volume, but never fewer than one per producer.
func (c Config) CellRecords(size int) int {
	n := c.Records
	if c.MaxCellBytes > 0 && size > 0 {
		n = int(min(int64(n), c.MaxCellBytes/int64(size)))
	}
	return max(n, c.Producers)
}

// String names the cell for progress lines, e.g. "rf=3 1024B lz4 acks=all".
func (c Cell) String() string {
	return fmt.Sprintf("rf=%s %dB %s acks=%s", rfName(c.ReplicationFactor), c.RecordSize, c.Compression, c.Acks)
}

// group is the cell without its acks mode: the panel a chart draws one
// series per mode in.
func (c Cell) group() Cell { c.Acks = ""; return c }

func rfName(rf int16) string {
	if rf < 0 {
		return "default"
	}
	return strconv.Itoa(int(rf))
}

// dims reports which matrix dimensions have more than one value; only
// those get a column in tables, the rest go in the header line.
type dims struct{ rf, size, codec bool }

func (c Config) dims() dims {
	return dims{len(c.ReplicationFactors) > 1, len(c.RecordSizes) > 1, len(c.Compressions) > 1}
}

// topicFor names the topic of a replication factor: Topic itself when
// there is only one factor, Topic-rfN otherwise.
func (c Config) topicFor(rf int16) string {
	if len(c.ReplicationFactors) == 1 {
		return c.Topic
	}
	return c.Topic + "-rf" + rfName(rf)
}
