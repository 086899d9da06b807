package config

import "strings"

// Nearest returns the candidate closest to word by edit distance (after
// folding case and '_' to '-'), or "" when none is close enough to be a
// likely typo: at most 2 edits, and fewer than half of word's length.
func Nearest(word string, candidates []string) string {
	w := fold(word)
	best, bestD := "", 3
	for _, c := range candidates {
		d := editDistance(w, fold(c))
		if d < bestD && 2*d < len(w) {
			best, bestD = c, d
		}
	}
	return best
}

func fold(s string) string { return strings.ReplaceAll(strings.ToLower(s), "_", "-") }

// editDistance is the Levenshtein distance with adjacent transpositions
// counted as one edit ("odic" -> "oidc").
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
