package wire

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// frameBody encodes a request as a frame body (no size prefix), with a
// request header of the right version.
func frameBody(req kmsg.Request, corr int32, clientID string) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(req.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(req.GetVersion()))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	b = binary.BigEndian.AppendUint16(b, uint16(len(clientID)))
	b = append(b, clientID...)
	if req.IsFlexible() {
		b = append(b, 0)
	}
	return req.AppendTo(b)
}

func seedRequests() []kmsg.Request {
	av := kmsg.NewPtrApiVersionsRequest()
	av.SetVersion(3)
	av.ClientSoftwareName, av.ClientSoftwareVersion = "samsa", "1"
	md := kmsg.NewPtrMetadataRequest()
	md.SetVersion(12)
	md.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("orders")}}
	pr := kmsg.NewPtrProduceRequest()
	pr.SetVersion(9)
	pr.Acks = -1
	pr.Topics = []kmsg.ProduceRequestTopic{{Topic: "orders", Partitions: []kmsg.ProduceRequestTopicPartition{{Records: []byte("not a batch")}}}}
	pr3 := kmsg.NewPtrProduceRequest()
	pr3.SetVersion(3)
	pr3.Topics = pr.Topics
	fe := kmsg.NewPtrFetchRequest()
	fe.SetVersion(13)
	fe.Topics = []kmsg.FetchRequestTopic{{TopicID: [16]byte{1}, Partitions: []kmsg.FetchRequestTopicPartition{{FetchOffset: 5}}}}
	lo := kmsg.NewPtrListOffsetsRequest()
	lo.SetVersion(7)
	ct := kmsg.NewPtrCreateTopicsRequest()
	ct.SetVersion(7)
	ct.Topics = []kmsg.CreateTopicsRequestTopic{{Topic: "t", NumPartitions: 3, ReplicationFactor: 1}}
	return []kmsg.Request{av, md, pr, pr3, fe, lo, ct}
}

// TestDecodeRequest checks valid frames decode and bad ones are refused.
func TestDecodeRequest(t *testing.T) {
	for _, req := range seedRequests() {
		d, err := decodeRequest(frameBody(req, 42, "client"))
		if err != nil {
			t.Fatalf("%s v%d: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
		}
		if d.corr != 42 || d.clientID != "client" || d.req.Key() != req.Key() {
			t.Fatalf("decoded %+v", d)
		}
	}
	if _, err := decodeRequest([]byte{0, 3}); err == nil {
		t.Fatal("short frame accepted")
	}
	if _, err := decodeRequest([]byte{0x03, 0xe7, 0, 0, 0, 0, 0, 1, 0, 0}); err == nil {
		t.Fatal("unknown key accepted")
	}
	old := kmsg.NewPtrProduceRequest()
	old.SetVersion(2)
	if _, err := decodeRequest(frameBody(old, 1, "")); err == nil {
		t.Fatal("produce v2 accepted")
	}
	future := kmsg.NewPtrApiVersionsRequest()
	future.SetVersion(3)
	body := frameBody(future, 1, "")
	binary.BigEndian.PutUint16(body[2:], 77)
	if d, err := decodeRequest(body); err != nil || d.req != nil {
		t.Fatalf("future ApiVersions: %v %+v", err, d)
	}
}

// FuzzRequest feeds arbitrary frame bodies to the decoder: it must return an
// error or a request, never panic.
func FuzzRequest(f *testing.F) {
	for _, req := range seedRequests() {
		f.Add(frameBody(req, 1, "seed"))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := decodeRequest(body)
		if err == nil && d.req != nil {
			// A decoded request must re-encode without panicking.
			_ = d.req.AppendTo(nil)
		}
	})
}

// TestWriteSeedCorpus regenerates testdata/fuzz/FuzzRequest when
// WIRE_WRITE_CORPUS=1.
func TestWriteSeedCorpus(t *testing.T) {
	if os.Getenv("WIRE_WRITE_CORPUS") == "" {
		t.Skip("set WIRE_WRITE_CORPUS=1 to regenerate the seed corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzRequest")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, req := range seedRequests() {
		body := frameBody(req, 1, "seed")
		content := "go test fuzz v1\n[]byte(" + quote(body) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, kmsg.NameForKey(req.Key())+"-"+itoa(int64(i))), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func quote(b []byte) string {
	const hex = "0123456789abcdef"
	out := []byte{'"'}
	for _, c := range b {
		out = append(out, '\\', 'x', hex[c>>4], hex[c&15])
	}
	return string(append(out, '"'))
}
