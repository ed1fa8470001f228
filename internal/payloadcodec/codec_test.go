package payloadcodec

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
)

func TestRoundTripAndRotation(t *testing.T) {
	dc := DataConverter(mustCodec(t, NewKey()))
	p, err := dc.ToPayload(map[string]string{"stdout": "marker-plaintext-123"})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(p.Data, []byte("marker-plaintext-123")) || string(p.Metadata["encoding"]) != Encoding {
		t.Fatalf("payload not encrypted: %v", p)
	}
	var got map[string]string
	if err := dc.FromPayload(p, &got); err != nil || got["stdout"] != "marker-plaintext-123" {
		t.Fatalf("round trip: %v %v", got, err)
	}
	// Rotation: a codec with a new key first still reads the old payloads.
	oldKey := NewKey()
	old := mustCodec(t, oldKey)
	enc, _ := old.Encode([]*commonpb.Payload{{Data: []byte("x")}})
	rotated := mustCodec(t, NewKey(), oldKey)
	if dec, err := rotated.Decode(enc); err != nil || string(dec[0].Data) != "x" {
		t.Errorf("rotated codec: %v %v", dec, err)
	}
	// Another key: a clear error, no garbage.
	if _, err := mustCodec(t, NewKey()).Decode(enc); err == nil || !strings.Contains(err.Error(), "ACTIVITY_PAYLOAD_KEY_FILE") {
		t.Errorf("wrong key: %v", err)
	}
	// Unencrypted payloads (history from before) pass through.
	plain := []*commonpb.Payload{{Metadata: map[string][]byte{"encoding": []byte("json/plain")}, Data: []byte(`{}`)}}
	if dec, err := rotated.Decode(plain); err != nil || string(dec[0].Data) != `{}` {
		t.Errorf("plain payload: %v %v", dec, err)
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "keys")
	if err := os.WriteFile(good, []byte("# current\n"+NewKey()+"\n\n"+strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadFile(good)
	if err != nil || len(c.keys) != 2 {
		t.Fatalf("LoadFile: %v", err)
	}
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte(base64.StdEncoding.EncodeToString([]byte("short"))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{bad, filepath.Join(dir, "missing"), filepath.Join(dir, "empty")} {
		if p == filepath.Join(dir, "empty") {
			if err := os.WriteFile(p, []byte("# nothing\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := LoadFile(p); err == nil || !strings.Contains(err.Error(), "ACTIVITY_PAYLOAD_KEY_FILE") {
			t.Errorf("LoadFile(%s): %v", filepath.Base(p), err)
		}
	}
}

func mustCodec(t *testing.T, keys ...string) *Codec {
	t.Helper()
	var raw [][]byte
	for _, k := range keys {
		b, err := decodeKey(k)
		if err != nil {
			t.Fatal(err)
		}
		raw = append(raw, b)
	}
	c, err := newCodec(raw...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
