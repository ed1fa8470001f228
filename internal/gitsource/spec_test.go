package gitsource

import (
	"strings"
	"testing"
	"time"
)

func TestParseSpec(t *testing.T) {
	tests := []struct {
		raw  string
		want Spec
	}{
		{"defs", Spec{Name: "defs", Kind: KindFolder, Dir: "defs"}},
		{"/srv/My Definitions/", Spec{Name: "my-definitions", Kind: KindFolder, Dir: "/srv/My Definitions/"}},
		{"local=./defs", Spec{Name: "local", Kind: KindFolder, Dir: "./defs"}},
		{"git+https://host/org/Ops.git//automations?ref=main&webhook_secret=OPS_GIT_HOOK&interval=5m", Spec{
			Name: "ops", Kind: KindGit,
			Git: &Remote{URL: "https://host/org/Ops.git", Path: "automations", Ref: "main", WebhookSecret: "OPS_GIT_HOOK", Interval: 5 * time.Minute},
		}},
		{"ops2=git+ssh://git@host:2222/org/ops.git", Spec{Name: "ops2", Kind: KindGit, Git: &Remote{URL: "ssh://git@host:2222/org/ops.git"}}},
		{"git+file:///srv/repo.git//a/./b/?ref=v1.2", Spec{Name: "repo", Kind: KindGit, Git: &Remote{URL: "file:///srv/repo.git", Path: "a/b", Ref: "v1.2"}}},
		{"git+http://127.0.0.1:8080/repo.git?ref=0123456789abcdef0123456789abcdef01234567", Spec{
			Name: "repo", Kind: KindGit, Git: &Remote{URL: "http://127.0.0.1:8080/repo.git", Ref: "0123456789abcdef0123456789abcdef01234567"},
		}},
		{"mirror=git+git://127.0.0.1/repo.git//x", Spec{Name: "mirror", Kind: KindGit, Git: &Remote{URL: "git://127.0.0.1/repo.git", Path: "x"}}},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got, err := ParseSpec(tt.raw)
			if err != nil {
				t.Fatal(err)
			}
			if got.Name != tt.want.Name || got.Kind != tt.want.Kind || got.Dir != tt.want.Dir {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			if (got.Git == nil) != (tt.want.Git == nil) || (got.Git != nil && *got.Git != *tt.want.Git) {
				t.Fatalf("remote: got %+v, want %+v", got.Git, tt.want.Git)
			}
		})
	}
}

func TestParseSpecErrors(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"", "empty"},
		{"Ops=defs", `name "Ops" must match`},
		{"ops=", "empty"},
		{"https://host/org/repo.git", "starts with git+"},
		{"git@github.com:org/repo.git", "scp-like addresses are not accepted; write git+ssh://"},
		{"git+ftp://host/repo.git", "scheme git+ftp is not supported"},
		{"git+https:host/repo.git", "no :// after the scheme"},
		{"git+https:///repo.git", "has no host"},
		{"git+https://host", "no repository path"},
		{"git+file://host/srv/repo.git", "absolute path"},
		{"git+https://host/repo.git#main", "fragment"},
		{"git+https://host/repo.git?branch=main", `unknown parameter "branch"; the parameters are ref, webhook_secret, interval`},
		{"git+https://host/repo.git?ref=a&ref=b", "given 2 times"},
		{"git+https://host/repo.git?ref=-upload-pack=evil", "starts with '-'"},
		{"git+https://host/repo.git?ref=a..b", "'..'"},
		{"git+https://host/repo.git?ref=a%20b", "a space"},
		{"git+https://host/repo.git?ref=main.lock", ".lock"},
		{"git+https://host/repo.git?ref=a@%7B1%7D", "'@{'"},
		{"git+https://host/repo.git?ref=", "empty"},
		{"git+https://host/repo.git//a/../../etc", "must not contain .. segments"},
		{"git+https://host/repo.git?interval=5s", "at least 10s"},
		{"git+https://host/repo.git?interval=soon", `interval "soon"`},
		{"git+https://host/repo.git?webhook_secret=s3cr3t-value!", "must name an allow-listed secret"},
		{"git+https://host/repo.git?%zz", "query does not parse"},
		{"/", "no name can be made"},
		{"git+http://ann:pw@host/repo.git", "git+http sends credentials in cleartext"},
		{"git+http://token@host/repo.git", "git+http sends credentials in cleartext"},
		{"git+git://ann@host/repo.git", "git+git sends credentials in cleartext"},
		{"git+ssh://git:pw@host/repo.git", "take a user, not a password"},
		{"git+ssh://-oProxyCommand=id@host/repo.git", "starting with '-'"},
		{"git+ssh://git@-oProxyCommand=id/repo.git", "starting with '-'"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			_, err := ParseSpec(tt.raw)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseSpec(%q) = %v, want an error with %q", tt.raw, err, tt.want)
			}
		})
	}
}

func TestParseSpecErrorHidesCredentials(t *testing.T) {
	tests := []struct {
		raw     string
		secrets []string
		want    string
	}{
		{"ops=git+https://ann:hunter2secret@host/repo.git?branch=x", []string{"hunter2secret"}, `unknown parameter "branch"`},
		{"git+https://ghp_tokenvalue1234@host/repo.git?ref=-x", []string{"ghp_tokenvalue1234"}, "git+https://xxxxx@host/repo.git?ref=-x"},
		{"ops=git+https://host/repo.git?webhook_secret=ghp_S3cr3tTokenValue-XYZ", []string{"S3cr3tTokenValue"}, "webhook_secret must name"},
		{"git+https://host/repo.git?private_token=glpat-SECRETSECRET", []string{"SECRETSECRET"}, `unknown parameter "private_token"`},
		{"git+https://host/repo.git?%zz=glpat-SECRETSECRET", []string{"SECRETSECRET"}, "query does not parse"},
		{"git+https://user:p@ss@host/repo.git?ref=-x", []string{"p@ss", "@ss"}, "git+https://xxxxx@host/repo.git"},
		{"git+https://user:pa/ss@host/repo.git", []string{"pa/ss", "ss@"}, "git+https://xxxxx@host/repo.git"},
		{"ops=git+https://user:pa?ss@host/repo.git", []string{"pa?ss", "ss@"}, `"ops=git+https://(hidden)"`},
		{"git+https://[fe80::1/repo.git?tok=S3cret", []string{"S3cret", "fe80"}, `"git+https://(hidden)"`},
		{"ops=git+https:/user:pw-S3cret@host/repo.git", []string{"pw-S3cret"}, `"ops=git+https://(hidden)"`},
	}
	for _, tt := range tests {
		_, err := ParseSpec(tt.raw)
		if err == nil {
			t.Fatalf("ParseSpec(%q) = nil error", tt.raw)
		}
		for _, secret := range tt.secrets {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("ParseSpec(%q): error shows %q: %v", tt.raw, secret, err)
			}
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseSpec(%q) = %v, want %q", tt.raw, err, tt.want)
		}
	}
}

func TestRedactSpecKeepsWhatIsNotSecret(t *testing.T) {
	for raw, want := range map[string]string{
		"ops=git+https://host/o/r.git//defs?ref=main&interval=5m&webhook_secret=OPS_HOOK": "ops=git+https://host/o/r.git//defs?ref=main&interval=5m&webhook_secret=OPS_HOOK",
		"git+https://host/r.git?webhook_secret=s3cr%21t&x=1&flag":                         "git+https://host/r.git?webhook_secret=xxxxx&x=xxxxx&flag",
		"/srv/defs": "/srv/defs",
	} {
		if got := redactSpec(raw); got != want {
			t.Errorf("redactSpec(%q) = %q, want %q", raw, got, want)
		}
	}
}

func TestParseSpecsDuplicateNames(t *testing.T) {
	refused := []struct {
		raw  []string
		want string
	}{
		{[]string{"git+https://host/a/defs.git", "git+file:///srv/defs.git"},
			`sources "git+https://host/a/defs.git" and "git+file:///srv/defs.git" are both named "defs"`},
		{[]string{"x=a/defs", "x=git+https://host/org/ops.git"}, `both named "x"`},
		{[]string{"defs=a", "git+https://host/org/defs.git"}, `sources "a" and "git+https://host/org/defs.git" are both named "defs"`},
	}
	for _, tt := range refused {
		_, err := ParseSpecs(tt.raw)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseSpecs(%q) = %v, want %q", tt.raw, err, tt.want)
		}
	}
}

func TestParseSpecsNamesUnnamedFolders(t *testing.T) {
	// Folder lists from before sources had names keep working: a clash
	// of unnamed folders is settled in list order.
	specs, err := ParseSpecs([]string{"/srv/a/defs", "", "/srv/b/defs", "defs-2=/srv/c", "git+https://host/org/ops.git", "/srv/ops", "/srv/d/defs"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range specs {
		got = append(got, s.Name+"="+s.String())
	}
	want := []string{"defs=/srv/a/defs", "defs-3=/srv/b/defs", "defs-2=/srv/c", "ops=git+https://host/org/ops.git", "ops-2=/srv/ops", "defs-4=/srv/d/defs"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("names:\n got %v\nwant %v", got, want)
	}
}

func TestSpecStringRedacts(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"git+https://ann:hunter2@host/org/ops.git//automations?ref=main&interval=5m",
			"git+https://ann:xxxxx@host/org/ops.git//automations?interval=5m0s&ref=main"},
		{"git+https://ghp_token@host/org/ops.git", "git+https://xxxxx@host/org/ops.git"},
		{"git+ssh://git@host/org/ops.git?webhook_secret=OPS", "git+ssh://git@host/org/ops.git?webhook_secret=OPS"},
		{"x=defs", "defs"},
	}
	for _, tt := range tests {
		s, err := ParseSpec(tt.raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

func TestCheckRef(t *testing.T) {
	for _, ok := range []string{"main", "refs/heads/main", "release/v1.2", "HEAD", "0123456789abcdef0123456789abcdef01234567", "feature+x"} {
		if err := CheckRef(ok); err != nil {
			t.Errorf("CheckRef(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-x", "@", "/main", "main/", "a//b", "main.", "a..b", "a@{1}", "a b", "a~1", "a^", "a:b", "a?", "a*", "a[", `a\b`, ".hidden", "a/.b", "x.lock", "a\x01"} {
		if err := CheckRef(bad); err == nil {
			t.Errorf("CheckRef(%q) = nil, want an error", bad)
		}
	}
}
