package app

import (
	"context"
	"time"

	"github.com/coulomb/activity-core/internal/adminapi"
	"github.com/coulomb/activity-core/internal/schedule"
)

// scheduleControl adapts the projector to the API, and records the
// overlap-skipped and missed catch-up counts in /metrics each time a
// schedule is described.
type scheduleControl struct {
	p *schedule.Projector
	m *adminapi.Metrics
}

func (s scheduleControl) Pause(ctx context.Context, id, note string, until *time.Time) error {
	return s.p.Pause(ctx, id, note, until)
}

func (s scheduleControl) Resume(ctx context.Context, id string) error {
	return s.p.Resume(ctx, id)
}

func (s scheduleControl) Describe(ctx context.Context, id string) (*adminapi.ScheduleInfo, error) {
	st, err := s.p.Describe(ctx, id)
	if err != nil {
		return nil, err
	}
	info := scheduleInfo(st)
	if st.Exists {
		s.m.ScheduleCounts(id, info.OverlapSkipped, info.MissedCatchup)
	}
	return info, nil
}

// States lists every managed schedule in one pass, for the definitions list.
func (s scheduleControl) States(ctx context.Context) (map[string]*adminapi.ScheduleInfo, error) {
	all, err := s.p.States(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*adminapi.ScheduleInfo, len(all))
	for id, st := range all {
		out[id] = scheduleInfo(st)
	}
	return out, nil
}

func scheduleInfo(st *schedule.State) *adminapi.ScheduleInfo {
	info := &adminapi.ScheduleInfo{
		ScheduleID: st.ScheduleID, Exists: st.Exists, Paused: st.Paused, Note: st.Note, PausedBy: st.PausedBy, Until: st.Until,
		NextFires: st.NextFireTimes, RecentFires: []time.Time{},
		OverlapSkipped: int64(st.OverlapSkipped), MissedCatchup: int64(st.MissedCatchupWindow), Pending: st.Pending,
	}
	for _, a := range st.RecentActions {
		info.RecentFires = append(info.RecentFires, a.ScheduledAt)
	}
	return info
}
