package secret

import "testing"

func TestValues(t *testing.T) {
	v := NewValues("***", 3)
	if got := v.Redact("nothing to hide"); got != "nothing to hide" || !v.Empty() {
		t.Fatalf("empty Values changed text: %q", got)
	}
	v.Add("ab") // too short to mask
	v.Add("token")
	v.Add("token-2") // contains the other: masked whole, longest first
	if got, want := v.Redact("ab token token-2 dG9rZW4="), "ab *** *** ***"; got != want {
		t.Errorf("Redact = %q, want %q", got, want)
	}
	v.Forget("token-2")
	if got, want := v.Redact("token-2"), "***-2"; got != want {
		t.Errorf("after Forget, Redact = %q, want %q", got, want)
	}
}
