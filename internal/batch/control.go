package batch

import "encoding/binary"

// Control record types (the key's second int16): transaction markers.
const (
	ControlAbort  int16 = 0
	ControlCommit int16 = 1
)

// BuildMarker builds a transaction marker: a control batch of producer
// pid/epoch with one record whose key is {version 0, type} and whose value
// is {version 0, coordinatorEpoch}, as Kafka writes them.
func BuildMarker(pid int64, epoch int16, commit bool, coordinatorEpoch int32, ts int64) []byte {
	typ := ControlAbort
	if commit {
		typ = ControlCommit
	}
	key := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, 0), uint16(typ))
	value := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint16(nil, 0), uint32(coordinatorEpoch))
	h := Header{Attributes: AttrTransactional | AttrControl, FirstTimestamp: ts, MaxTimestamp: ts,
		ProducerID: pid, ProducerEpoch: epoch, BaseSequence: -1}
	b, err := Build(h, []Record{{Key: key, Value: value}})
	if err != nil {
		panic(err) // a fixed, small, uncompressed batch cannot fail to build
	}
	return b
}

// ControlType returns the marker type of a control batch (exactly one
// complete batch): ControlAbort or ControlCommit; ok is false for anything
// else (not a control batch, or an unknown control record).
func ControlType(b []byte) (typ int16, ok bool) {
	h, recs, err := Records(b)
	if err != nil || !h.IsControl() || len(recs) == 0 || len(recs[0].Key) < 4 {
		return 0, false
	}
	typ = int16(binary.BigEndian.Uint16(recs[0].Key[2:]))
	return typ, typ == ControlAbort || typ == ControlCommit
}
