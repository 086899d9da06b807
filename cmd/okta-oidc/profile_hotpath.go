//go:build hotpathprofile

package main

// Built only with -tags hotpathprofile (make bench): writes a CPU profile of
// the whole plugin server to $OKTA_OIDC_CPUPROFILE until SIGTERM, which is
// how Kong stops a plugin server. Release builds have none of this.

import (
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

func init() {
	path := os.Getenv("OKTA_OIDC_CPUPROFILE")
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err != nil {
		panic(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		panic(err)
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-ch
		pprof.StopCPUProfile()
		_ = f.Close()
		os.Exit(0)
	}()
}
