package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// tokenFileName is where `dev` keeps its admin token, inside its data dir;
// client commands read it when no token is given.
const tokenFileName = "admin-token"

// ClientFlags are shared by the commands that talk to a running server.
type ClientFlags struct {
	Server  string        `env:"ACTIVITY_SERVER" default:"http://127.0.0.1:8080" help:"activity-core HTTP API to talk to."`
	Token   string        `env:"ACTIVITY_TOKEN" help:"Bearer token (default: the token file in the dev data dir)." placeholder:"TOKEN"`
	DataDir string        `name:"data-dir" env:"ACTIVITY_DATA_DIR" default:".activity-core" help:"dev data dir to read the token file from."`
	Format  string        `help:"Output format: text or json." enum:"text,json" default:"text" env:"ACTIVITY_FORMAT"`
	Timeout time.Duration `default:"5m" help:"How long to wait for the server."`
}

// apiClient calls the HTTP API and turns its error documents into errors.
type apiClient struct {
	base  string
	token string
	http  *http.Client
}

func (f *ClientFlags) client() (*apiClient, error) {
	base := strings.TrimSuffix(f.Server, "/")
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageError("--server %q is not an http(s) URL (e.g. http://127.0.0.1:8080)", f.Server)
	}
	token := f.Token
	if token == "" {
		b, err := os.ReadFile(filepath.Join(f.DataDir, tokenFileName))
		if err == nil {
			token = strings.TrimSpace(string(b))
		}
	}
	return &apiClient{base: base, token: token, http: &http.Client{Timeout: f.Timeout}}, nil
}

// apiError is an error answer of the server.
type apiError struct {
	Status  int
	Code    string
	Message string
	// Fields names each refused field (a run's inputs) with why.
	Fields map[string]string
}

func (e *apiError) Error() string {
	if len(e.Fields) > 0 {
		return fmt.Sprintf("server answered %d %s: refused %d field%s:", e.Status, e.Code, len(e.Fields), plural(len(e.Fields)))
	}
	return fmt.Sprintf("server answered %d %s: %s", e.Status, e.Code, e.Message)
}

// fieldNames returns the refused fields in order.
func (e *apiError) fieldNames() []string {
	return slices.Sorted(maps.Keys(e.Fields))
}

func (c *apiClient) do(ctx context.Context, method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("cannot reach activity-core at %s: %v (is it running? start it with `activity-core dev` or point --server/ACTIVITY_SERVER at it)", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 400 {
		var doc struct {
			Error struct {
				Code, Message string
				Fields        map[string]string
			} `json:"error"`
		}
		if json.Unmarshal(data, &doc) == nil && doc.Error.Message != "" {
			ae := &apiError{Status: resp.StatusCode, Code: doc.Error.Code, Message: doc.Error.Message, Fields: doc.Error.Fields}
			if resp.StatusCode == http.StatusUnauthorized && c.token == "" {
				ae.Message += " (no token: pass --token, set ACTIVITY_TOKEN, or run from the directory holding dev's .activity-core, or give --data-dir / ACTIVITY_DATA_DIR as dev was given)"
			}
			return ae
		}
		return &apiError{Status: resp.StatusCode, Code: http.StatusText(resp.StatusCode), Message: strings.TrimSpace(string(data))}
	}
	if out == nil {
		return nil
	}
	if raw, ok := out.(*json.RawMessage); ok {
		*raw = data
		return nil
	}
	return json.Unmarshal(data, out)
}

// printJSON writes v indented, except a server's answer (json.RawMessage),
// which goes out as received: it holds stored documents, and indenting a
// deeply nested one multiplies its size by its depth (pipe it through jq).
func printJSON(w io.Writer, v any) error {
	if raw, ok := v.(json.RawMessage); ok {
		raw = bytes.TrimRight(raw, "\n")
		_, err := w.Write(append(raw[:len(raw):len(raw)], '\n'))
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
