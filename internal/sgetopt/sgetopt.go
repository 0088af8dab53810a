// Package sgetopt parses options the way daemontools 0.76's own getopt
// (sgetopt/subgetopt) does, quirks included, so that ichi's tools accept and
// reject exactly the same command lines and print the same complaints.
//
// The rules: options are single letters after '-', and may be clustered
// ("-nx"); a letter followed by ':' in the option string takes an argument,
// either the rest of the word ("-m100") or the next word ("-m 100", where the
// next word may be empty or start with '-'). Parsing stops at the first word
// that does not start with '-', at a lone "-" (which is left as an operand),
// or at a word starting with "--" (which is consumed, whatever follows the
// two dashes).
//
// On a bad option the complaint goes to standard error as
// "PROG: illegal option -- X" or "PROG: option requires an argument -- X",
// where PROG is the last path element of argv[0]. As in the original, the
// choice between the two depends only on whether a word remains at the
// current position.
//
// It is not a GNU getopt: no long options, no permutation of operands.
package sgetopt

import (
	"io"
	"strings"
)

// Done is returned by Next when the options are over; Parser.Index is then
// the index of the first operand.
const Done = -1

// Bad is returned by Next for an unknown option or a missing argument,
// after the complaint has been written.
const Bad = '?'

// Parser walks the options of one argument vector.
type Parser struct {
	// Index is the index in argv of the word being parsed; after Done it
	// is the first operand.
	Index int
	// Arg is the argument of the option Next returned last, if it takes
	// one.
	Arg string

	argv    []string
	opts    string
	pos     int
	prog    string
	stderr  io.Writer
	problem byte
}

// New returns a parser for argv (argv[0] is the program's name) and the
// option letters opts, in getopt's notation ("a:c:nN"). Complaints are
// written to stderr.
func New(argv []string, opts string, stderr io.Writer) *Parser {
	prog := ""
	if len(argv) > 0 {
		prog = argv[0]
		if i := strings.LastIndexByte(prog, '/'); i >= 0 {
			prog = prog[i+1:]
		}
	}
	return &Parser{Index: 1, argv: argv, opts: opts, prog: prog, stderr: stderr}
}

// Next returns the next option letter, Bad, or Done.
func (p *Parser) Next() int {
	c := p.next()
	if c == Bad && p.stderr != nil {
		msg := ": option requires an argument -- "
		if p.Index < len(p.argv) {
			msg = ": illegal option -- "
		}
		io.WriteString(p.stderr, p.prog+msg+string(p.problem)+"\n")
	}
	return c
}

func (p *Parser) next() int {
	p.Arg = ""
	if p.Index >= len(p.argv) {
		return Done
	}
	if p.pos > 0 && p.pos >= len(p.argv[p.Index]) {
		p.Index++
		p.pos = 0
		if p.Index >= len(p.argv) {
			return Done
		}
	}
	word := p.argv[p.Index]
	if p.pos == 0 {
		if len(word) == 0 || word[0] != '-' {
			return Done
		}
		if len(word) == 1 {
			return Done
		}
		if word[1] == '-' {
			p.Index++
			return Done
		}
		p.pos = 1
	}
	c := word[p.pos]
	p.pos++
	i := strings.IndexByte(p.opts, c)
	if i < 0 || c == ':' {
		p.problem = c
		return Bad
	}
	if i+1 < len(p.opts) && p.opts[i+1] == ':' {
		p.Arg = word[p.pos:]
		p.Index++
		p.pos = 0
		if p.Arg == "" {
			if p.Index >= len(p.argv) {
				p.problem = c
				return Bad
			}
			p.Arg = p.argv[p.Index]
			p.Index++
		}
	}
	return int(c)
}
