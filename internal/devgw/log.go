package devgw

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Log levels, in nginx/Kong order (debug is the most verbose).
const (
	levelDebug = iota
	levelInfo
	levelNotice
	levelWarn
	levelErr
	levelCrit
	levelAlert
	levelEmerg
)

var levelNames = []string{"debug", "info", "notice", "warn", "error", "crit", "alert", "emerg"}

func parseLevel(s string) (int, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "info":
		return levelInfo, nil
	case "debug":
		return levelDebug, nil
	case "notice":
		return levelNotice, nil
	case "warn":
		return levelWarn, nil
	case "error", "err":
		return levelErr, nil
	case "crit":
		return levelCrit, nil
	case "alert":
		return levelAlert, nil
	case "emerg":
		return levelEmerg, nil
	}
	return 0, fmt.Errorf("invalid log level %q (expected debug, info, notice, warn, error, crit, alert or emerg)", s)
}

// logger writes nginx-style lines: "2006/01/02 15:04:05 [level] message".
type logger struct {
	mu    sync.Mutex
	w     io.Writer
	level int
}

func (l *logger) logf(level int, format string, args ...any) {
	if l == nil || level < l.level {
		return
	}
	msg := fmt.Sprintf(format, args...)
	line := time.Now().Format("2006/01/02 15:04:05") + " [" + levelNames[level] + "] " + msg
	if !strings.HasSuffix(line, "\n") {
		line += "\n"
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = io.WriteString(l.w, line)
}

func (l *logger) debugf(format string, args ...any)  { l.logf(levelDebug, format, args...) }
func (l *logger) infof(format string, args ...any)   { l.logf(levelInfo, format, args...) }
func (l *logger) noticef(format string, args ...any) { l.logf(levelNotice, format, args...) }
func (l *logger) warnf(format string, args ...any)   { l.logf(levelWarn, format, args...) }
func (l *logger) errorf(format string, args ...any)  { l.logf(levelErr, format, args...) }
