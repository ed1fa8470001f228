// Package payloadcodec encrypts every payload activity-core's Temporal
// client writes (workflow and activity inputs and results, heartbeats,
// failure messages) with AES-256-GCM, so that Temporal's database holds
// ciphertext. It is the second layer behind redaction
// (docs/deployment.md#payload-encryption).
package payloadcodec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"
)

const (
	// Encoding marks an encrypted payload.
	Encoding    = "binary/encrypted"
	metaKeyID   = "encryption-key-id"
	metaEncoder = "encoding"
	keySize     = 32
)

// Codec is a converter.PayloadCodec. The first key encrypts; every key
// decrypts, so a key can be rotated by putting the new one first.
type Codec struct {
	keys []codecKey
}

type codecKey struct {
	id   string
	aead cipher.AEAD
}

// New makes a codec from 32-byte keys, the first used to encrypt.
func newCodec(keys ...[]byte) (*Codec, error) {
	if len(keys) == 0 {
		return nil, errors.New("no key")
	}
	c := &Codec{}
	for i, k := range keys {
		if len(k) != keySize {
			return nil, fmt.Errorf("key %d is %d bytes, want %d (openssl rand -base64 32)", i+1, len(k), keySize)
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(k)
		c.keys = append(c.keys, codecKey{id: hex.EncodeToString(sum[:4]), aead: aead})
	}
	return c, nil
}

// LoadFile reads keys from a file: one key a line, base64 or hex of 32
// bytes, the first used to encrypt; blank lines and # comments ignored.
// Errors name the setting (ACTIVITY_PAYLOAD_KEY_FILE).
func LoadFile(path string) (*Codec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ACTIVITY_PAYLOAD_KEY_FILE: %v", err)
	}
	var keys [][]byte
	for n, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := decodeKey(line)
		if err != nil {
			return nil, fmt.Errorf("ACTIVITY_PAYLOAD_KEY_FILE: %s:%d: %v", path, n+1, err)
		}
		keys = append(keys, k)
	}
	c, err := newCodec(keys...)
	if err != nil {
		return nil, fmt.Errorf("ACTIVITY_PAYLOAD_KEY_FILE: %s: %v", path, err)
	}
	return c, nil
}

func decodeKey(s string) ([]byte, error) {
	if len(s) == 2*keySize {
		if k, err := hex.DecodeString(s); err == nil {
			return k, nil
		}
	}
	k, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(k) != keySize {
		return nil, fmt.Errorf("not a 32-byte key in base64 or hex (make one with: openssl rand -base64 32)")
	}
	return k, nil
}

// NewKey returns a fresh key, base64-encoded, for a key file.
func NewKey() string {
	k := make([]byte, keySize)
	_, _ = rand.Read(k)
	return base64.StdEncoding.EncodeToString(k)
}

// Encode encrypts each payload whole (metadata and data).
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	k := c.keys[0]
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return nil, err
		}
		nonce := make([]byte, k.aead.NonceSize())
		if _, err := rand.Read(nonce); err != nil {
			return nil, err
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{metaEncoder: []byte(Encoding), metaKeyID: []byte(k.id)},
			Data:     k.aead.Seal(nonce, nonce, plain, nil),
		}
	}
	return out, nil
}

// Decode decrypts encrypted payloads and passes others through (history
// written before encryption was turned on stays readable).
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[metaEncoder]) != Encoding {
			out[i] = p
			continue
		}
		id := string(p.GetMetadata()[metaKeyID])
		var k *codecKey
		for j := range c.keys {
			if c.keys[j].id == id {
				k = &c.keys[j]
			}
		}
		if k == nil {
			return nil, fmt.Errorf("payload encrypted with key %s, which is not in ACTIVITY_PAYLOAD_KEY_FILE", id)
		}
		ns := k.aead.NonceSize()
		if len(p.Data) < ns {
			return nil, errors.New("encrypted payload too short")
		}
		plain, err := k.aead.Open(nil, p.Data[:ns], p.Data[ns:], nil)
		if err != nil {
			return nil, fmt.Errorf("decrypting payload with key %s: %v", id, err)
		}
		var dec commonpb.Payload
		if err := proto.Unmarshal(plain, &dec); err != nil {
			return nil, err
		}
		out[i] = &dec
	}
	return out, nil
}

// DataConverter is Temporal's default converter with c applied.
func DataConverter(c *Codec) converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c)
}

// FailureConverter encodes failure messages and stack traces with the
// codec too (Temporal keeps them outside payloads otherwise).
func FailureConverter(c *Codec) converter.FailureConverter {
	return temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{DataConverter: DataConverter(c), EncodeCommonAttributes: true})
}
