package packaging

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/okta-oidc/okta-oidc/test/stack"
)

var testRef = regexp.MustCompile("`((?:Test|Fuzz)[A-Z0-9]\\w*)`")

// testFuncs lists the Test and Fuzz functions declared in the repository's
// _test.go files.
func testFuncs(t *testing.T, root string) map[string]bool {
	t.Helper()
	decl := regexp.MustCompile(`(?m)^func ((?:Test|Fuzz)\w+)\(`)
	found := map[string]bool{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == ".git") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range decl.FindAllSubmatch(b, -1) {
			found[string(m[1])] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// checkSecurityDoc returns the problems in doc: a defence row of the
// "What is defended" tables that names no test, or a named test that does
// not exist.
func checkSecurityDoc(doc string, funcs map[string]bool) []string {
	var problems []string
	_, defended, ok := strings.Cut(doc, "## What is defended")
	if !ok {
		return []string{`no "## What is defended" section`}
	}
	defended, _, _ = strings.Cut(defended, "\n## ")
	rows := 0
	for _, line := range strings.Split(defended, "\n") {
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		if len(cells) < 2 || !strings.HasPrefix(line, "|") || strings.HasPrefix(line, "|---") || strings.TrimSpace(cells[0]) == "defence" {
			continue
		}
		rows++
		refs := testRef.FindAllStringSubmatch(cells[len(cells)-1], -1)
		if len(refs) == 0 {
			problems = append(problems, "names no test: "+strings.TrimSpace(cells[0]))
		}
	}
	if rows == 0 {
		problems = append(problems, "no defence rows")
	}
	for _, m := range testRef.FindAllStringSubmatch(doc, -1) {
		if !funcs[m[1]] {
			problems = append(problems, "no such test: "+m[1])
		}
	}
	return problems
}

// TestSecurityDocNamesRealTests: every defence SECURITY.md lists names a
// test, and every test it names exists, so the page cannot drift from the
// suite.
func TestSecurityDocNamesRealTests(t *testing.T) {
	root := stack.Root()
	doc, err := os.ReadFile(filepath.Join(root, "SECURITY.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range checkSecurityDoc(string(doc), testFuncs(t, root)) {
		t.Error("SECURITY.md: " + p)
	}
}

func TestCheckSecurityDoc(t *testing.T) {
	funcs := map[string]bool{"TestA": true, "FuzzB": true}
	good := "## What is defended\n\n| defence | tests |\n|---|---|\n| x | `TestA`, `FuzzB` |\n\n## Not\n"
	if p := checkSecurityDoc(good, funcs); len(p) != 0 {
		t.Errorf("good doc: %v", p)
	}
	for name, doc := range map[string]string{
		"row without test": "## What is defended\n\n| defence | tests |\n|---|---|\n| x | none |\n",
		"unknown test":     "## What is defended\n\n| defence | tests |\n|---|---|\n| x | `TestGone` |\n",
		"no section":       "# Security\n",
		"no rows":          "## What is defended\n\nnothing\n",
	} {
		if p := checkSecurityDoc(doc, funcs); len(p) == 0 {
			t.Errorf("%s: no problem found", name)
		}
	}
}
