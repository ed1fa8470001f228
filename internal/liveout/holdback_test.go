package liveout

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/coulomb/activity-core/internal/secret"
)

func TestRing(t *testing.T) {
	r := ring{max: 8}
	var all []byte
	for i, w := range []string{"abc", "defgh", "ij", "klmnopqrstuvwxyz", "0", "123456789"} {
		r.write([]byte(w))
		all = append(all, w...)
		if r.total != int64(len(all)) {
			t.Fatalf("write %d: total %d, want %d", i, r.total, len(all))
		}
		start := max(len(all)-8, 0)
		for from := range len(all) + 1 {
			got, at := r.since(int64(from))
			wantAt := max(from, start)
			if at != int64(wantAt) || string(got) != string(all[wantAt:]) {
				t.Fatalf("write %d: since(%d) = %q at %d, want %q at %d", i, from, got, at, all[wantAt:], wantAt)
			}
		}
	}
}

// redactor is the engine's redaction of one secret: every form of it,
// and the longest text it replaces.
func redactor(secretValue string) (func(string) string, int) {
	v := secret.NewValues("***", 3)
	v.Add(secretValue)
	longest := 0
	for _, f := range secret.Forms(secretValue) {
		longest = max(longest, len(f))
	}
	return v.Redact, longest
}

// TestHoldbackNeverPublishesPartOfASecret feeds output holding secrets in
// every form, split at every place and in random pieces: every published
// prefix is a prefix of the whole output redacted, so no piece of a
// secret ever goes out, and the end gives the whole.
func TestHoldbackNeverPublishesPartOfASecret(t *testing.T) {
	const sec = "s3cr3t-T0ken/value+x"
	redact, longest := redactor(sec)
	var forms []string
	forms = append(forms, secret.Forms(sec)...)
	out := "start " + strings.Join(forms, " and ") + " " + sec + sec + "\nend " + sec
	want := redact(out)
	if strings.Contains(want, sec) {
		t.Fatalf("the redaction itself leaves the secret: %q", want)
	}
	check := func(t *testing.T, pieces []string) {
		h := holdback{redact: redact, hold: longest - 1, pendingMax: 1 << 20}
		var got []byte
		var off int64
		for _, p := range pieces {
			if c := h.push(off, []byte(p)); c != nil {
				if c.from != h.pos-(c.to-c.from) || c.to != h.pos {
					t.Fatalf("chunk [%d,%d) but pipe at %d", c.from, c.to, h.pos)
				}
				got = append(got, c.text...)
				if !strings.HasPrefix(want, string(got)) {
					t.Fatalf("pieces %q: published %q, not a prefix of %q", pieces, got, want)
				}
			}
			off += int64(len(p))
		}
		if c := h.flush(); c != nil {
			got = append(got, c.text...)
		}
		if string(got) != want {
			t.Fatalf("pieces %q: published %q, want %q", pieces, got, want)
		}
	}
	for cut := 1; cut < len(out); cut++ {
		check(t, []string{out[:cut], out[cut:]})
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		var pieces []string
		for rest := out; rest != ""; {
			n := min(len(rest), 1+rng.IntN(8))
			pieces = append(pieces, rest[:n])
			rest = rest[n:]
		}
		check(t, pieces)
	}
	// One byte at a time.
	var bytesOf []string
	for i := range len(out) {
		bytesOf = append(bytesOf, out[i:i+1])
	}
	check(t, bytesOf)
}

// TestHoldbackAfterGap: after bytes were lost, the tail of a secret that
// began in the gap is not published.
func TestHoldbackAfterGap(t *testing.T) {
	const sec = "gap-secret-value"
	redact, longest := redactor(sec)
	h := holdback{redact: redact, hold: longest - 1, pendingMax: 1 << 20}
	h.push(0, []byte("hello "))
	// "gap-secr" was lost; "et-value and more" follows.
	tail := "et-value and more text after the gap, long enough to publish"
	var got []byte
	if c := h.push(100, []byte(tail)); c != nil {
		got = append(got, c.text...)
	}
	if c := h.flush(); c != nil {
		got = append(got, c.text...)
	}
	if bytes.Contains(got, []byte("et-value")) {
		t.Fatalf("after a gap, published %q: holds the tail of a secret", got)
	}
}

func TestHoldbackResetDropsCutSecretAtRingStart(t *testing.T) {
	const sec = "ring-secret-value"
	redact, longest := redactor(sec)
	h := holdback{redact: redact, hold: longest - 1, pendingMax: 1 << 20}
	kept := []byte("ret-value then plenty of ordinary output that follows it in the ring")
	text := h.reset(1000, kept, true)
	text = append(text, h.flush().text...)
	if bytes.Contains(text, []byte("ret-value")) {
		t.Fatalf("a wrapped ring's backlog %q holds the tail of a secret", text)
	}
	if !bytes.HasSuffix(text, []byte("follows it in the ring")) {
		t.Fatalf("backlog %q lost its end", text)
	}
}

func Example_subject() {
	s, _ := subject("0190d5c4-7f1e-7a00-9b1a-3c2d1e0f9a8b", "data")
	fmt.Println(s)
	// Output: activity_output.0190d5c4-7f1e-7a00-9b1a-3c2d1e0f9a8b.data
}

func TestSubjectRefusesWildcards(t *testing.T) {
	for _, id := range []string{"", "a.b", "*", ">", "a b", strings.Repeat("x", 201)} {
		if _, err := subject(id, "data"); err == nil {
			t.Errorf("subject(%q) was accepted", id)
		}
	}
}
