package definition

import (
	"errors"
	"slices"
	"testing"
)

func TestExpandSecrets(t *testing.T) {
	refused := errors.New("SECRET_B is not in ACTIVITY_SECRET_ENV")
	resolve := func(name string) (string, error) {
		if name == "SECRET_B" {
			return "", refused
		}
		return "value-of-" + name, nil
	}
	var seen []string
	out, err := ExpandSecrets("https://${env:HOST}/x?k=${env:KEY}", resolve, func(v string) { seen = append(seen, v) })
	if err != nil || out != "https://value-of-HOST/x?k=value-of-KEY" || !slices.Equal(seen, []string{"value-of-HOST", "value-of-KEY"}) {
		t.Errorf("ExpandSecrets = %q, %v, remembered %v", out, err, seen)
	}
	if _, err := ExpandSecrets("${env:A} ${env:SECRET_B}", resolve, func(string) {}); !errors.Is(err, refused) {
		t.Errorf("a refused name: %v, want the resolver's error as is", err)
	}
}
