package policy

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Holder keeps the policy set in force and swaps it on reload. Calls in
// flight keep the set they started with (an atomic pointer swap), so a
// reload never fails or delays them; an invalid change is rejected and the
// running set kept.
type Holder struct {
	path     string
	cur      atomic.Pointer[Set]
	mu       sync.Mutex // serialises reloads
	log      *slog.Logger
	onReload func(result string)
}

// NewHolder loads the policy at path (a file or a folder); an empty path
// holds the embedded default policy. onReload, when set, is told "ok" or
// "rejected" after every reload attempt.
func NewHolder(path string, logger *slog.Logger, onReload func(result string)) (*Holder, error) {
	h := &Holder{path: path, log: logger, onReload: onReload}
	set := Default()
	if path != "" {
		var err error
		if set, err = Load(path); err != nil {
			return nil, err
		}
	}
	h.cur.Store(set)
	return h, nil
}

// Current returns the set in force.
func (h *Holder) Current() *Set { return h.cur.Load() }

// Path returns the policy path ("" for the embedded default).
func (h *Holder) Path() string { return h.path }

// Reload reads the policy path again. On error the running set stays and
// the error says why.
func (h *Holder) Reload() error {
	if h.path == "" {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	set, err := Load(h.path)
	if err != nil {
		h.log.Error("policy reload rejected; keeping the running policy", slog.String("reason", err.Error()))
		h.report("rejected")
		return err
	}
	h.cur.Store(set)
	var ids []string
	for _, p := range set.Policies() {
		ids = append(ids, p.ID)
	}
	h.log.Info("policy reloaded", slog.Any("policies", ids))
	h.report("ok")
	return nil
}

func (h *Holder) report(result string) {
	if h.onReload != nil {
		h.onReload(result)
	}
}

// Watch reloads when the policy file or folder changes, until ctx ends.
// Bursts of events (editors write in several steps) are collapsed into one
// reload after a short quiet period.
func (h *Holder) Watch(ctx context.Context) error {
	if h.path == "" {
		return nil
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch policy: %w", err)
	}
	dir := h.path
	if fi, err := os.Stat(h.path); err == nil && !fi.IsDir() {
		// Watch the folder: editors and config maps replace files by rename.
		dir = filepath.Dir(h.path)
	}
	if err := w.Add(dir); err != nil {
		w.Close()
		return fmt.Errorf("watch policy: %w", err)
	}
	go func() {
		defer w.Close()
		var timer *time.Timer
		fire := make(chan struct{}, 1)
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if dir != h.path && filepath.Clean(ev.Name) != filepath.Clean(h.path) {
					continue
				}
				if timer != nil {
					timer.Stop()
				}
				timer = time.AfterFunc(250*time.Millisecond, func() {
					select {
					case fire <- struct{}{}:
					default:
					}
				})
			case <-fire:
				_ = h.Reload()
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				h.log.Warn("policy watch error", slog.String("error", err.Error()))
			}
		}
	}()
	return nil
}
