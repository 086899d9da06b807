package devgw

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// serverDef is one configured plugin server (Kong's server_def).
type serverDef struct {
	Name     string
	Socket   string
	StartCmd string
	QueryCmd string
	Protocol string

	mu      sync.Mutex
	cmd     *exec.Cmd
	pid     int
	stopped bool
	stopCh  chan struct{}
	doneCh  chan struct{}
	log     *logger
}

// pluginInfo is what a query (-dump) reported for one plugin.
type pluginInfo struct {
	Name     string
	Priority int
	Version  string
	Phases   []string
	schema   *schemaField
	server   *serverDef
	bundled  *bundledPlugin // an emulated bundled plugin, run in-process
}

func (p *pluginInfo) hasPhase(ph string) bool {
	for _, x := range p.Phases {
		if x == ph {
			return true
		}
	}
	return false
}

// bundledPlugins are the Lua plugins shipped with Kong 3.9 (the "bundled"
// keyword of the plugins setting). kong-devgw cannot run any of them.
var bundledPlugins = []string{
	"acl", "acme", "ai-azure-content-safety", "ai-prompt-decorator", "ai-prompt-guard", "ai-prompt-template",
	"ai-proxy", "ai-request-transformer", "ai-response-transformer", "aws-lambda", "azure-functions",
	"basic-auth", "bot-detection", "correlation-id", "cors", "datadog", "file-log", "grpc-gateway",
	"grpc-web", "hmac-auth", "http-log", "ip-restriction", "jwt", "key-auth", "ldap-auth", "loggly",
	"oauth2", "opentelemetry", "post-function", "pre-function", "prometheus", "proxy-cache",
	"rate-limiting", "redirect", "request-size-limiting", "request-termination", "request-transformer",
	"response-ratelimiting", "response-transformer", "session", "standard-webhooks", "statsd", "syslog",
	"tcp-log", "udp-log", "zipkin",
}

// envMap turns KEY=VALUE pairs into a lookup map (last one wins).
func envMap(env []string) map[string]string {
	m := map[string]string{}
	for _, kv := range env {
		if i := strings.IndexByte(kv, '='); i > 0 {
			m[kv[:i]] = kv[i+1:]
		}
	}
	return m
}

// kongSetting reads a kong.conf setting from the environment (KONG_<NAME>).
func kongSetting(env map[string]string, name string) (string, bool) {
	v, ok := env["KONG_"+strings.ToUpper(name)]
	if !ok {
		return "", false
	}
	v = strings.TrimSpace(v)
	if v == "" {
		return "", false
	}
	return v, true
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// serverDefsFromEnv builds the plugin server definitions exactly like Kong
// 3.9's conf_loader: names lower-cased, settings prefixed with
// pluginserver_<name with - replaced by _>_, 3.9 defaults.
func serverDefsFromEnv(env map[string]string, prefix string, binDir string) ([]*serverDef, error) {
	namesStr, _ := kongSetting(env, "pluginserver_names")
	var defs []*serverDef
	for _, name := range splitList(namesStr) {
		name = strings.ToLower(name)
		envPrefix := "pluginserver_" + strings.ReplaceAll(name, "-", "_")
		d := &serverDef{Name: name}
		if v, ok := kongSetting(env, envPrefix+"_socket"); ok {
			d.Socket = v
		} else {
			d.Socket = filepath.Join(prefix, name+".socket")
		}
		bin := filepath.Join(binDir, name)
		if v, ok := kongSetting(env, envPrefix+"_start_cmd"); ok {
			d.StartCmd = v
		} else if fileExists(bin) {
			d.StartCmd = bin
		}
		if v, ok := kongSetting(env, envPrefix+"_query_cmd"); ok {
			d.QueryCmd = v
		} else if fileExists(bin) {
			d.QueryCmd = bin + " -dump"
		}
		if d.QueryCmd == "" {
			return nil, fmt.Errorf("query_command undefined for pluginserver %s", name)
		}
		defs = append(defs, d)
	}
	return defs, nil
}

var versionRe = regexp.MustCompile(`^[0-9]+\.[0-9]+(\.[0-9]+)?$`)

// queryServer runs the query command through sh, reads stdout only and
// parses the dump. Only the first plugin is used (Kong >= 3.9).
func queryServer(ctx context.Context, d *serverDef, env []string, log *logger) (*pluginInfo, error) {
	cmd := exec.CommandContext(ctx, "sh", "-c", d.QueryCmd)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	runErr := cmd.Run()
	if s := strings.TrimSpace(stderr.String()); s != "" {
		for _, line := range strings.Split(s, "\n") {
			log.infof("[%s:query] %s", d.Name, line)
		}
	}
	out := stdout.Bytes()
	var dump any
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber()
	if err := dec.Decode(&dump); err != nil {
		msg := fmt.Sprintf("Not a plugin info table: \n%s\n%s", d.QueryCmd, string(out))
		if runErr != nil {
			msg += fmt.Sprintf("\n(query command failed: %v)", runErr)
		}
		return nil, errors.New(msg)
	}
	var infos []any
	protocol := "MsgPack:1"
	switch t := dump.(type) {
	case map[string]any:
		if p, ok := t["Protocol"].(string); ok {
			protocol = p
		}
		if pl, ok := t["Plugins"].([]any); ok {
			infos = pl
		}
	case []any:
		infos = t
	default:
		return nil, fmt.Errorf("Not a plugin info table: \n%s\n%s", d.QueryCmd, string(out))
	}
	d.Protocol = protocol
	if len(infos) == 0 {
		return nil, nil
	}
	raw, _ := json.Marshal(infos[0])
	var pi struct {
		Name     any             `json:"Name"`
		Priority any             `json:"Priority"`
		Version  any             `json:"Version"`
		Phases   []string        `json:"Phases"`
		Schema   json.RawMessage `json:"Schema"`
	}
	if err := json.Unmarshal(raw, &pi); err != nil {
		return nil, fmt.Errorf("pluginserver %s: bad plugin info: %v", d.Name, err)
	}
	name, _ := pi.Name.(string)
	if name == "" {
		return nil, fmt.Errorf("pluginserver %s: plugin info without a Name", d.Name)
	}
	info := &pluginInfo{Name: name, Phases: pi.Phases, server: d}
	// PRIORITY must be an integer number.
	prioOK := false
	if n, ok := pi.Priority.(float64); ok && n == math.Trunc(n) && !math.IsInf(n, 0) {
		info.Priority = int(n)
		prioOK = true
	}
	if !prioOK {
		return info, fmt.Errorf("Plugin %q cannot be loaded because its PRIORITY field is not a valid integer number, got: %q.", name, luaToString(pi.Priority))
	}
	ver, _ := pi.Version.(string)
	if !versionRe.MatchString(ver) {
		return info, fmt.Errorf("Plugin %q cannot be loaded because its VERSION field does not follow the \"x.y.z\" format, got: %q.", name, luaToString(pi.Version))
	}
	info.Version = ver
	sch, err := parsePluginSchema(pi.Schema)
	if err != nil {
		return info, fmt.Errorf("error loading plugin schema for %q: %v", name, err)
	}
	info.schema = sch
	return info, nil
}

// luaToString renders a decoded JSON value like Lua's tostring.
func luaToString(v any) string {
	switch v := v.(type) {
	case nil:
		return "nil"
	case string:
		return v
	case bool:
		if v {
			return "true"
		}
		return "false"
	case float64:
		return luaNumber(v)
	case json.Number:
		if f, err := v.Float64(); err == nil {
			return luaNumber(f)
		}
		return v.String()
	case int64:
		return fmt.Sprint(v)
	}
	return fmt.Sprintf("table: %p", &v)
}

// luaNumber formats a number like LuaJIT's tostring (%.14g).
func luaNumber(f float64) string {
	if math.IsInf(f, 1) {
		return "inf"
	}
	if math.IsInf(f, -1) {
		return "-inf"
	}
	if math.IsNaN(f) {
		return "nan"
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return fmt.Sprintf("%d", int64(f))
	}
	return fmt.Sprintf("%.14g", f)
}

// loadPlugins queries every plugin server and checks the plugins setting.
// It returns the plugins provided by plugin servers, by name.
func loadPlugins(ctx context.Context, defs []*serverDef, env map[string]string, envList []string, log *logger) (map[string]*pluginInfo, map[string]bool, error) {
	infos := map[string]*pluginInfo{}
	var loadErrs []string
	if len(defs) > 0 {
		log.noticef("[kong] process.lua:90 [pluginserver] loading external plugins info")
	}
	for _, d := range defs {
		info, err := queryServer(ctx, d, envList, log)
		if err != nil && info == nil {
			return nil, nil, err
		}
		if info == nil {
			continue
		}
		if prev, dup := infos[info.Name]; dup {
			log.errorf("Duplicate plugin name [%s] by %s and %s", info.Name, prev.server.Name, d.Name)
			continue
		}
		if err != nil {
			loadErrs = append(loadErrs, info.Name+"\x00"+err.Error())
		}
		infos[info.Name] = info
		if d.Protocol != "ProtoBuf:1" {
			return nil, nil, fmt.Errorf("pluginserver %s speaks %q; kong-devgw only implements the ProtoBuf:1 protocol (go-pdk)", d.Name, d.Protocol)
		}
	}
	if len(defs) > 0 {
		log.noticef("[kong] process.lua:101 [pluginserver] loaded #%d external plugins info", len(defs))
	}
	// plugins = bundled,<names>
	pluginsSetting, ok := kongSetting(env, "plugins")
	if !ok {
		pluginsSetting = "bundled"
	}
	enabled := map[string]bool{}
	var errs []string
	for _, name := range splitList(pluginsSetting) {
		switch name {
		case "bundled":
			for _, b := range bundledPlugins {
				enabled[b] = true
			}
			continue
		case "off":
			continue
		}
		enabled[name] = true
		if _, ok := infos[name]; ok {
			continue
		}
		if isBundled(name) {
			continue
		}
		errs = append(errs, fmt.Sprintf("on plugin '%s': %s plugin is enabled but not installed;\n  no pluginserver reported a plugin named '%s' (module 'kong.plugins.%s.handler' not found)", name, name, name, name))
	}
	for _, le := range loadErrs {
		parts := strings.SplitN(le, "\x00", 2)
		if enabled[parts[0]] {
			errs = append(errs, fmt.Sprintf("on plugin '%s': %s", parts[0], parts[1]))
		}
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return nil, nil, fmt.Errorf("error loading plugin schemas: %s", strings.Join(errs, "; "))
	}
	return infos, enabled, nil
}

func isBundled(name string) bool {
	for _, b := range bundledPlugins {
		if b == name {
			return true
		}
	}
	return false
}

// start launches the respawn loop of a managed plugin server.
func (d *serverDef) start(env []string, log *logger) {
	d.stopCh = make(chan struct{})
	d.doneCh = make(chan struct{})
	d.log = log
	go d.loop(env, log)
}

// loop spawns "exec <start_cmd>" through sh, logs its merged output at
// info level as "[name:pid] line", and respawns it after any exit, at most
// once per second, until stopped.
func (d *serverDef) loop(env []string, log *logger) {
	defer close(d.doneCh)
	defer log.noticef("[kong] process.lua:181 [pluginserver] exiting: pluginserver '%s' not respawned.", d.Name)
	var nextSpawn time.Time
	for {
		if wait := time.Until(nextSpawn); wait > 0 {
			select {
			case <-d.stopCh:
				return
			case <-time.After(wait):
			}
		}
		select {
		case <-d.stopCh:
			return
		default:
		}
		log.noticef("[kong] process.lua:152 [pluginserver] starting pluginserver process for %s", d.Name)
		cmd := exec.Command("sh", "-c", "exec "+d.StartCmd)
		cmd.Env = env
		setProcAttr(cmd)
		pr, pw, err := os.Pipe()
		if err != nil {
			log.errorf("external pluginserver %q: cannot create pipe: %v", d.Name, err)
			nextSpawn = time.Now().Add(time.Second)
			continue
		}
		cmd.Stdout = pw
		cmd.Stderr = pw
		d.mu.Lock()
		if d.stopped {
			d.mu.Unlock()
			pr.Close()
			pw.Close()
			return
		}
		err = cmd.Start()
		nextSpawn = time.Now().Add(time.Second)
		if err == nil {
			d.cmd = cmd
			d.pid = cmd.Process.Pid
		}
		d.mu.Unlock()
		if err == nil {
			log.noticef("[kong] process.lua:158 [pluginserver] started, pid %d", cmd.Process.Pid)
		}
		pw.Close()
		if err != nil {
			pr.Close()
			log.errorf("external pluginserver %q: failed to start %q: %v", d.Name, d.StartCmd, err)
			continue
		}
		prefix := fmt.Sprintf("[%s:%d] ", d.Name, cmd.Process.Pid)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			if line := sc.Text(); line != "" {
				log.infof("%s%s", prefix, line)
			}
		}
		pr.Close()
		werr := cmd.Wait()
		d.mu.Lock()
		d.cmd = nil
		d.pid = 0
		d.mu.Unlock()
		var ee *exec.ExitError
		if errors.As(werr, &ee) && ee.ExitCode() == 127 {
			log.errorf("[kong] process.lua:166 [pluginserver] external pluginserver %q start command %q exited with \"command not found\"", d.Name, d.StartCmd)
		} else {
			log.noticef("[kong] process.lua:173 external pluginserver '%s' terminated: %v", d.Name, describeExit(werr))
		}
	}
}

func describeExit(err error) string {
	if err == nil {
		return "exit 0"
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return "signal " + fmt.Sprint(int(ws.Signal()))
		}
		return fmt.Sprintf("exit %d", ee.ExitCode())
	}
	return err.Error()
}

// stop sends SIGTERM to the server (SIGKILL after a grace period) and stops
// respawning it.
func (d *serverDef) stop(grace time.Duration) {
	d.mu.Lock()
	if d.stopped || d.stopCh == nil {
		d.mu.Unlock()
		return
	}
	d.stopped = true
	close(d.stopCh)
	cmd := d.cmd
	d.mu.Unlock()
	if cmd != nil && cmd.Process != nil {
		// like Kong's stop_pluginservers: the notice follows even a failure
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			d.log.errorf("[kong] process.lua:211 [pluginserver] failed to stop pluginserver '%s: %v", d.Name, err)
		}
		d.log.noticef("[kong] process.lua:213 [pluginserver] successfully stopped pluginserver '%s', pid %d", d.Name, cmd.Process.Pid)
	}
	select {
	case <-d.doneCh:
	case <-time.After(grace):
		d.mu.Lock()
		cmd = d.cmd
		d.mu.Unlock()
		if cmd != nil && cmd.Process != nil {
			_ = cmd.Process.Kill()
		}
		<-d.doneCh
	}
}

func (d *serverDef) currentPID() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.pid
}
