package integration

import (
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// rawRequest writes one frame and returns the raw response body, or an error
// if the broker closed the connection.
func rawRequest(t *testing.T, addr string, frame []byte) ([]byte, error) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(frame); err != nil {
		return nil, err
	}
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		return nil, err
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	_, err = io.ReadFull(c, body)
	return body, err
}

func frame(key, version int16, corr int32, body []byte) []byte {
	b := make([]byte, 4, 64+len(body))
	b = binary.BigEndian.AppendUint16(b, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	b = binary.BigEndian.AppendUint16(b, 4)
	b = append(b, "test"...)
	b = append(b, body...)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// TestBadInput: malformed frames, unknown keys, oversized requests and
// corrupt batches get an error or a closed connection, and the broker keeps
// serving everyone else.
func TestBadInput(t *testing.T) {
	b := startBroker(t, "", map[string]string{"socket.request.max.bytes": "1048576"})
	ctx := testContext(t, time.Minute)
	good := newClient(t, b.Addr(), kgo.DefaultProduceTopic("ok"), kgo.AllowAutoTopicCreation())
	produceOK := func() {
		t.Helper()
		if err := good.ProduceSync(ctx, &kgo.Record{Value: []byte("still fine")}).FirstErr(); err != nil {
			t.Fatalf("good client failed: %v", err)
		}
	}
	produceOK()

	// Unknown API key: connection closed.
	if _, err := rawRequest(t, b.Addr(), frame(999, 0, 1, nil)); err == nil {
		t.Fatal("unknown API key answered")
	}
	// Oversized frame: closed before reading it.
	big := make([]byte, 8)
	binary.BigEndian.PutUint32(big, 200<<20)
	if _, err := rawRequest(t, b.Addr(), big); err == nil {
		t.Fatal("oversized frame answered")
	}
	// Negative size.
	binary.BigEndian.PutUint32(big, 0xffffffff)
	if _, err := rawRequest(t, b.Addr(), big); err == nil {
		t.Fatal("negative size answered")
	}
	// Truncated Metadata body.
	if _, err := rawRequest(t, b.Addr(), frame(3, 9, 1, []byte{0x05, 0x01})); err == nil {
		t.Fatal("truncated metadata answered")
	}
	// ApiVersions from the future: v0 answer with UNSUPPORTED_VERSION (KIP-511).
	body, err := rawRequest(t, b.Addr(), frame(18, 99, 7, nil))
	if err != nil {
		t.Fatalf("future ApiVersions: %v", err)
	}
	if corr := int32(binary.BigEndian.Uint32(body)); corr != 7 {
		t.Fatalf("correlation %d", corr)
	}
	av := kmsg.NewPtrApiVersionsResponse()
	av.SetVersion(0)
	if err := av.ReadFrom(body[4:]); err != nil {
		t.Fatal(err)
	}
	if av.ErrorCode != kerr.UnsupportedVersion.Code || len(av.ApiKeys) == 0 {
		t.Fatalf("future ApiVersions: %+v", av)
	}

	// Corrupt batch: CORRUPT_MESSAGE for that partition, nothing appended.
	cl := newClient(t, b.Addr())
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	req.Acks = -1
	req.TimeoutMillis = 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "ok"
	rp := kmsg.NewProduceRequestTopicPartition()
	batch := validBatch()
	batch[len(batch)-1] ^= 0xff // breaks the CRC
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.CorruptMessage.Code {
		t.Fatalf("corrupt batch: error code %d", code)
	}
	// Truncated batch.
	rp.Records = validBatch()[:40]
	req.Topics[0].Partitions[0] = rp
	resp, err = req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.CorruptMessage.Code {
		t.Fatalf("truncated batch: error code %d", code)
	}
	// And a good one through the same raw path works.
	rp.Records = validBatch()
	req.Topics[0].Partitions[0] = rp
	resp, err = req.RequestWith(ctx, cl)
	if err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("valid raw batch: %v %+v", err, resp)
	}
	produceOK()
	ends, _ := newAdmin(t, b.Addr()).ListEndOffsets(ctx, "ok")
	if o, _ := ends.Lookup("ok", 0); o.Offset != 3 {
		t.Fatalf("end offset %d, want 3 (two good produces and one raw batch)", o.Offset)
	}
}

// validBatch is a one-record uncompressed v2 batch built with kmsg.
func validBatch() []byte {
	rec := kmsg.Record{Value: []byte("raw"), Key: []byte("k")}
	rec.Length = int32(len(rec.AppendTo(nil)) - 1) // bytes after the 1-byte length varint
	recBytes := rec.AppendTo(nil)
	rb := kmsg.RecordBatch{
		Magic: 2, LastOffsetDelta: 0, FirstTimestamp: time.Now().UnixMilli(), MaxTimestamp: time.Now().UnixMilli(),
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: 1, Records: recBytes,
	}
	raw := rb.AppendTo(nil)
	rb.Length = int32(len(raw) - 12)
	raw = rb.AppendTo(nil)
	rb.CRC = int32(crc32c(raw[21:]))
	return rb.AppendTo(nil)
}
