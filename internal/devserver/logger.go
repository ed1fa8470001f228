package devserver

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	tlog "go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
)

// slogLogger adapts the Temporal server's logging interface to log/slog, so
// server logs go wherever activity-core's logs go. level is shared by every
// logger derived through With, so raising it once (before Stop) silences the
// whole server.
type slogLogger struct {
	l     *slog.Logger
	level *slog.LevelVar
	tags  []tag.Tag
}

var (
	_ tlog.Logger     = (*slogLogger)(nil)
	_ tlog.WithLogger = (*slogLogger)(nil)
)

func newSlogLogger(l *slog.Logger, level *slog.LevelVar) *slogLogger {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return &slogLogger{l: l.With("component", "temporal-server"), level: level}
}

func (s *slogLogger) With(tags ...tag.Tag) tlog.Logger {
	n := make([]tag.Tag, 0, len(s.tags)+len(tags))
	n = append(append(n, s.tags...), tags...)
	return &slogLogger{l: s.l, level: s.level, tags: n}
}

func (s *slogLogger) log(level slog.Level, msg string, tags []tag.Tag) {
	if level < s.level.Level() {
		return
	}
	ctx := context.Background()
	if !s.l.Enabled(ctx, level) {
		return
	}
	var pcs [1]uintptr
	runtime.Callers(3, pcs[:]) // log, Warn/Error/..., caller
	r := slog.NewRecord(time.Now(), level, msg, pcs[0])
	for _, t := range s.tags {
		r.AddAttrs(tagAttr(t))
	}
	for _, t := range tags {
		r.AddAttrs(tagAttr(t))
	}
	_ = s.l.Handler().Handle(ctx, r)
}

// tagAttr converts lazily: tags are built on every server call path, but
// only the few that reach an enabled level are ever rendered.
func tagAttr(t tag.Tag) slog.Attr {
	switch v := t.Value().(type) {
	case error:
		return slog.String(t.Key(), v.Error())
	case fmt.Stringer:
		return slog.String(t.Key(), v.String())
	default:
		return slog.Any(t.Key(), v)
	}
}

func (s *slogLogger) Debug(msg string, tags ...tag.Tag) { s.log(slog.LevelDebug, msg, tags) }
func (s *slogLogger) Info(msg string, tags ...tag.Tag)  { s.log(slog.LevelInfo, msg, tags) }
func (s *slogLogger) Warn(msg string, tags ...tag.Tag)  { s.log(slog.LevelWarn, msg, tags) }
func (s *slogLogger) Error(msg string, tags ...tag.Tag) { s.log(slog.LevelError, msg, tags) }

// DPanic is a development-time assertion in zap; production zap only logs it.
func (s *slogLogger) DPanic(msg string, tags ...tag.Tag) { s.log(slog.LevelError, msg, tags) }

// Panic and Fatal keep the contract the server relies on (it does not
// continue after them, e.g. after failing to open a listener); panicking
// rather than os.Exit leaves a stack trace and runs deferred calls.
func (s *slogLogger) Panic(msg string, tags ...tag.Tag) {
	s.log(slog.LevelError, msg, tags)
	panic("temporal server: " + msg)
}

func (s *slogLogger) Fatal(msg string, tags ...tag.Tag) {
	s.log(slog.LevelError, msg, tags)
	panic("temporal server (fatal): " + msg)
}
