package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"lanchat/node"
	"lanchat/node/chat"
	"lanchat/node/files"
)

// usageText is printed by --help.
const usageText = `lanchat — serverless chat for the local network

Usage:
  lanchat [flags]          join rooms (default "lobby") and chat
  lanchat keygen [PATH]    write a new random swarm.key to PATH (or stdout)
  lanchat invite [key] [flags]
                           print an invitation for a newcomer on another subnet
                           (with key: holding the network key, a secret); it
                           needs the fixed port of --listen, as given to lanchat

Flags:
  --nick NAME         your nick (default $LANCHAT_NICK, else $USER, else the hostname)
  --key PASSPHRASE    shared passphrase of the network (or env LANCHAT_KEY)
  --key-file PATH     shared key in swarm.key format (see "lanchat keygen")
  --room NAME         room to join (default lobby; repeatable, the first is current)
  --identity PATH     identity key file (default <config dir>/lanchat/identity.key)
  --data-dir PATH     where the message history is kept (default
                      $XDG_DATA_HOME/lanchat, else ~/.local/share/lanchat)
  --history-lines N   lines of history kept per room (default 10000)
  --history-days N    days of history kept (default 30)
  --sync-lines N      most lines per room a catch-up fetches (default 5000)
  --download-dir PATH where accepted files are saved (default the XDG
                      download dir's lanchat folder, else ~/Downloads/lanchat)
  --auto-accept DIR   accept every file offered, into DIR (for scripts and bots)
  --max-file-size N   largest file accepted, e.g. 500MB or 2GiB (default 4GiB)
  --iface NAME        discover peers on this network interface only
                      (repeatable; default every interface with multicast)
  --no-mdns           do not discover peers by mDNS (use --peer)
  --peer MULTIADDR    connect to this peer, e.g. /ip4/10.0.0.5/tcp/4001/p2p/12D3Koo…
                      (repeatable; for networks that block multicast)
  --join-invite LINE  join through an invitation (from /invite or lanchat invite)
  --bootstrap MULTIADDR
                      a node at another site (VPN, WAN) running the private DHT,
                      e.g. /ip4/10.8.0.1/tcp/4001/p2p/12D3Koo… (repeatable):
                      room members at every site find each other through it
  --dht               run the private DHT without --bootstrap: for the node
                      others name in their --bootstrap (give it a fixed --listen port)
  --listen MULTIADDR  listen address (repeatable; default all interfaces, any free port)
  --plain             plain text lines instead of the full-screen UI
  --json              one JSON object per line (for scripts and bots)
  --log-file PATH     write logs here (default: none in the full-screen UI,
                      warnings to stderr in the line modes)
  --no-bell           no terminal bell when a line names you (full screen)
  -v, --verbose       more logs
  --version           print the version and exit
  -h, --help          show this help

Without a key the network is open: anyone on the LAN can join and read.
Leave with :end, /quit, Ctrl-D or Ctrl-C.
`

// errHelp is returned by parseOptions for -h and --help.
var errHelp = flag.ErrHelp

// options are the parsed command line.
type options struct {
	nick       string
	nickSet    bool // --nick given: an invalid nick is an error, not clamped
	passphrase string
	keySet     bool // --key given
	keyFile    string
	rooms      []string // --room, in order, without "#" and repeats; default lobby
	identity   string
	dataDir    string
	histLines  int
	histDays   int
	syncLines  int
	ifaces     []string
	noMDNS     bool
	peers      []string
	bootstrap  []string // --bootstrap
	dht        bool     // --dht
	joinInvite string
	invite     *node.Invitation // joinInvite, read
	listens    []string
	plain      bool
	json       bool
	logFile    string
	verbose    bool
	version    bool
	noBell     bool // --no-bell: no terminal bell for mentions
	// downloadDir is --download-dir, or --auto-accept's DIR; "" = the
	// default (see defaultDownloadDir).
	downloadDir string
	autoAccept  string // --auto-accept DIR
	maxFileSize string // --max-file-size as typed
	maxFile     int64  // --max-file-size in bytes
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

// parseOptions parses the flags. Errors are usage errors: one sentence for
// the user, without the "lanchat: " prefix.
func parseOptions(args []string, getenv func(string) string) (options, error) {
	var o options
	fs := newFlagSet(&o)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, errHelp
		}
		return o, fmt.Errorf("%s (see lanchat --help)", flagError(err))
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q (see lanchat --help)", fs.Arg(0))
	}
	var rooms []string
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	o.nickSet, o.keySet = set["nick"], set["key"]

	switch {
	case o.keySet && set["key-file"]:
		return o, errors.New("--key and --key-file cannot be used together")
	case o.nickSet && o.nick == "":
		return o, fmt.Errorf("--nick: the nick is empty; give 1 to %d visible characters, or leave --nick out", maxNickRunes)
	case o.keySet && o.passphrase == "":
		return o, errors.New("--key: the passphrase is empty")
	case o.keySet && strings.TrimSpace(o.passphrase) == "":
		return o, errors.New("--key: the passphrase is only white space; choose one with words in it")
	case set["key-file"] && o.keyFile == "":
		return o, errors.New("--key-file: the path is empty")
	case o.plain && o.json:
		return o, errors.New("--plain and --json cannot be used together")
	case set["log-file"] && o.logFile == "":
		return o, errors.New("--log-file: the path is empty")
	case set["identity"] && o.identity == "":
		return o, errors.New("--identity: the path is empty")
	case set["data-dir"] && o.dataDir == "":
		return o, errors.New("--data-dir: the path is empty")
	case o.dataDir != "" && !isDirOrMissing(o.dataDir):
		return o, fmt.Errorf("--data-dir %q: not a directory", o.dataDir)
	case o.histLines < 1:
		return o, fmt.Errorf("--history-lines %d: want at least 1 line", o.histLines)
	case o.histDays < 1 || o.histDays > 36500:
		return o, fmt.Errorf("--history-days %d: want 1 to 36500 days", o.histDays)
	case o.syncLines < 1 || o.syncLines > maxSyncLines:
		return o, fmt.Errorf("--sync-lines %d: want 1 to %d lines", o.syncLines, maxSyncLines)
	case set["download-dir"] && o.downloadDir == "":
		return o, errors.New("--download-dir: the path is empty")
	case set["auto-accept"] && o.autoAccept == "":
		return o, errors.New("--auto-accept: the directory is empty")
	case set["auto-accept"] && set["download-dir"] && filepath.Clean(o.autoAccept) != filepath.Clean(o.downloadDir):
		return o, errors.New("--auto-accept DIR saves files in DIR: leave --download-dir out, or give the same directory")
	}
	if o.autoAccept != "" {
		o.downloadDir = o.autoAccept
	}
	for flag, dir := range map[string]string{"--download-dir": o.downloadDir, "--auto-accept": o.autoAccept} {
		if dir != "" && !isDirOrMissing(dir) {
			return o, fmt.Errorf("%s %q: not a directory", flag, dir)
		}
	}
	o.maxFile = node.DefaultMaxFileSize
	if set["max-file-size"] {
		n, err := parseSize(o.maxFileSize)
		if err != nil {
			return o, fmt.Errorf("--max-file-size %q: %w", o.maxFileSize, err)
		}
		o.maxFile = n
	}
	for _, addr := range o.listens {
		if err := checkTCPListen(addr); err != nil {
			return o, err
		}
	}
	for _, addr := range o.peers {
		if err := checkTCPPeer("--peer", addr); err != nil {
			return o, err
		}
	}
	for _, addr := range o.bootstrap {
		if err := checkBootstrap(addr); err != nil {
			return o, err
		}
	}
	if set["join-invite"] {
		if strings.TrimSpace(o.joinInvite) == "" {
			return o, errors.New("--join-invite: the line is empty; paste the whole invitation, lanchat:…")
		}
		// The line is not quoted back: it may hold the network key.
		inv, err := node.ParseInvitation(o.joinInvite)
		if err != nil {
			return o, fmt.Errorf("--join-invite: %v", err)
		}
		o.invite = &inv
	}
	seen := map[string]bool{}
	for _, typed := range o.rooms {
		if strings.TrimSpace(typed) == "" {
			return o, errors.New("--room: the name is empty")
		}
		name, err := chat.RoomName(typed)
		if err != nil {
			return o, fmt.Errorf("--room %q: a room name is 1 to %d bytes of visible characters, no spaces (e.g. --room lobby)", typed, chat.MaxRoomBytes)
		}
		if !seen[name] {
			seen[name] = true
			rooms = append(rooms, name)
		}
	}
	if len(rooms) == 0 {
		rooms = []string{chat.DefaultRoom}
	}
	o.rooms = rooms
	for _, name := range o.ifaces {
		if _, err := net.InterfaceByName(name); err != nil {
			return o, fmt.Errorf("--iface %q: no such network interface", name)
		}
	}
	if !o.nickSet {
		o.nick = defaultNick(getenv)
	}
	return o, nil
}

// checkTCPListen returns a usage error for a --listen multiaddr that is
// not TCP (QUIC, WebSocket, a Unix socket…): libp2p would only say "no
// transport for protocol". An address that is not a multiaddr at all, or
// a bad IP or port, is left to node, which says how one looks.
func checkTCPListen(addr string) error {
	if !strings.HasPrefix(addr, "/") {
		return nil
	}
	parts := strings.Split(strings.TrimSuffix(addr[1:], "/"), "/")
	if len(parts) > 2 && parts[0] == "ip6zone" {
		parts = parts[2:]
	}
	if len(parts) == 4 && (parts[0] == "ip4" || parts[0] == "ip6") && parts[2] == "tcp" {
		return nil
	}
	return fmt.Errorf("--listen %q: lanchat listens on TCP only: use an address like /ip4/0.0.0.0/tcp/4001 or /ip6/::/tcp/4001", addr)
}

// checkTCPPeer returns a usage error for a multiaddr of flag (--peer,
// --bootstrap) that is not TCP (QUIC, WebSocket…): libp2p would only say
// "no transport for protocol", at every redial. Anything else that is
// wrong is left to node, which says how a peer address looks.
func checkTCPPeer(flag, addr string) error {
	if !strings.HasPrefix(addr, "/") {
		return nil
	}
	parts := strings.Split(strings.TrimSuffix(addr[1:], "/"), "/")
	if len(parts) > 2 && parts[0] == "ip6zone" {
		parts = parts[2:]
	}
	switch {
	case len(parts) < 3:
		return nil
	case parts[0] != "ip4" && parts[0] != "ip6" && parts[0] != "dns" && parts[0] != "dns4" && parts[0] != "dns6":
		return nil
	case parts[2] == "tcp" && (len(parts) == 4 || len(parts) >= 5 && parts[4] == "p2p"):
		return nil
	}
	return fmt.Errorf("%s %q: lanchat talks TCP only: give the peer's TCP address, like /ip4/10.0.0.5/tcp/4001/p2p/12D3Koo…", flag, addr)
}

// checkBootstrap returns a usage error, one sentence, for a --bootstrap
// address that is not a TCP multiaddr ending in /p2p/<peer id>.
func checkBootstrap(addr string) error {
	if err := checkTCPPeer("--bootstrap", addr); err != nil {
		return err
	}
	if err := node.CheckBootstrap(addr); err != nil {
		return fmt.Errorf("--bootstrap: %s", reason(err))
	}
	return nil
}

// newFlagSet returns the command line's flags, parsing into o. Its output
// is discarded: errors are reworded by flagError, and --help prints
// usageText.
func newFlagSet(o *options) *flag.FlagSet {
	fs := flag.NewFlagSet("lanchat", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(&o.nick, "nick", "", "")
	fs.StringVar(&o.passphrase, "key", "", "")
	fs.StringVar(&o.keyFile, "key-file", "", "")
	fs.Var((*stringList)(&o.rooms), "room", "")
	fs.StringVar(&o.identity, "identity", "", "")
	fs.StringVar(&o.dataDir, "data-dir", "", "")
	fs.IntVar(&o.histLines, "history-lines", node.DefaultHistoryMaxLines, "")
	fs.IntVar(&o.histDays, "history-days", int(node.DefaultHistoryMaxAge/(24*time.Hour)), "")
	fs.IntVar(&o.syncLines, "sync-lines", node.DefaultSyncMaxLines, "")
	fs.Var((*stringList)(&o.ifaces), "iface", "")
	fs.BoolVar(&o.noMDNS, "no-mdns", false, "")
	fs.Var((*stringList)(&o.peers), "peer", "")
	fs.Var((*stringList)(&o.bootstrap), "bootstrap", "")
	fs.BoolVar(&o.dht, "dht", false, "")
	fs.StringVar(&o.joinInvite, "join-invite", "", "")
	fs.Var((*stringList)(&o.listens), "listen", "")
	fs.BoolVar(&o.plain, "plain", false, "")
	fs.BoolVar(&o.json, "json", false, "")
	fs.StringVar(&o.logFile, "log-file", "", "")
	fs.BoolVar(&o.verbose, "v", false, "")
	fs.BoolVar(&o.verbose, "verbose", false, "")
	fs.BoolVar(&o.version, "version", false, "")
	fs.BoolVar(&o.noBell, "no-bell", false, "")
	fs.StringVar(&o.downloadDir, "download-dir", "", "")
	fs.StringVar(&o.autoAccept, "auto-accept", "", "")
	fs.StringVar(&o.maxFileSize, "max-file-size", "", "")
	return fs
}

// flagError rewords the flag package's errors, which name flags with one
// dash and in Go's terms ("flag provided but not defined: -bogus"), as the
// help text names them ("unknown flag --bogus").
func flagError(err error) string {
	msg := err.Error()
	dashes := func(name string) string {
		name = strings.TrimLeft(name, "-")
		if len(name) == 1 {
			return "-" + name
		}
		return "--" + name
	}
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		return "unknown flag " + dashes(name)
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: "); ok {
		return dashes(name) + " needs a value"
	}
	if m := badBoolRE.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("%s=%s: the value must be true or false, or left out", dashes(m[2]), m[1])
	}
	if m := badValueRE.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("%s=%s: the value must be a whole number", dashes(m[2]), m[1])
	}
	return msg
}

// badBoolRE matches the flag package's error for a bad boolean value,
// badValueRE for a bad number (the only other typed flags).
var (
	badBoolRE  = regexp.MustCompile(`^invalid boolean value "(.*)" for (-[^:]+): `)
	badValueRE = regexp.MustCompile(`^invalid value "(.*)" for flag (-[^:]+): `)
)

// nodeConfig turns the options into a node configuration: it reads the key
// and picks the identity file. Errors are bad input (exit 2).
func (o options) nodeConfig(getenv func(string) string) (node.Config, error) {
	cfg := node.DefaultConfig()
	cfg.Nick = o.nick
	if n := chat.NormalizeNick(o.nick); n != "" {
		cfg.Nick = n // " bob " is bob, in NFC; "   " stays an invalid nick
	}
	if len(o.listens) > 0 {
		cfg.ListenAddrs = o.listens
	}
	cfg.StaticPeers = o.peers
	cfg.Bootstrap = o.bootstrap
	cfg.DHT = o.dht

	switch {
	case o.keySet:
		cfg.PSK = node.DeriveKey(o.passphrase)
	case o.keyFile != "":
		psk, err := node.ReadKeyFile(o.keyFile)
		if err != nil {
			return cfg, err
		}
		cfg.PSK = psk
	case getenv("LANCHAT_KEY") != "":
		if strings.TrimSpace(getenv("LANCHAT_KEY")) == "" {
			return cfg, errors.New("LANCHAT_KEY is only white space; set it to the network's passphrase, or unset it for an open network")
		}
		cfg.PSK = node.DeriveKey(getenv("LANCHAT_KEY"))
	}

	if inv := o.invite; inv != nil {
		if cfg.PSK == nil && inv.Key != nil {
			cfg.PSK = inv.Key
		}
		switch {
		case inv.Fits(cfg.PSK):
		case cfg.PSK == nil:
			return cfg, errors.New("--join-invite: the invitation is for a private network: give its key with --key or --key-file " +
				"(or ask for an invitation that holds it, /invite key)")
		case !inv.Private:
			return cfg, errors.New("--join-invite: the invitation is for an open network, without a key: leave out the key")
		default:
			return cfg, errors.New("--join-invite: the key given is not the network key of the invitation (their fingerprints differ): check the passphrase")
		}
		cfg.StaticPeers = append(cfg.StaticPeers, inv.Peers...)
	}

	cfg.HistoryMaxLines = o.histLines
	cfg.HistoryMaxAge = time.Duration(o.histDays) * 24 * time.Hour
	cfg.SyncMaxLines = o.syncLines
	cfg.DataDir = o.dataDir
	if cfg.DataDir == "" {
		cfg.DataDir = defaultDataDir(getenv)
	}
	cfg.DownloadDir = o.downloadDir
	if cfg.DownloadDir == "" {
		cfg.DownloadDir = defaultDownloadDir(getenv)
	}
	cfg.AutoAccept = o.autoAccept != ""
	cfg.MaxFileSize = o.maxFile
	cfg.IdentityPath = o.identity
	if cfg.IdentityPath == "" {
		// No config dir (no $HOME): an ephemeral identity still chats, it
		// just gets a new peer ID each run.
		if dir, err := os.UserConfigDir(); err == nil {
			cfg.IdentityPath = filepath.Join(dir, "lanchat", "identity.key")
		}
	}
	return cfg, nil
}

// maxSyncLines bounds --sync-lines: what one catch-up holds in memory
// (about 1 KB a line on the sending side's reconciliation, and the lines
// themselves on the receiving side).
const maxSyncLines = 100000

// isDirOrMissing reports whether path is a directory or does not exist
// (it is then created).
func isDirOrMissing(path string) bool {
	st, err := os.Stat(path)
	return errors.Is(err, fs.ErrNotExist) || err == nil && st.IsDir()
}

// defaultDataDir is $XDG_DATA_HOME/lanchat, else ~/.local/share/lanchat,
// else "" (no home: the history is kept only while lanchat runs).
func defaultDataDir(getenv func(string) string) string {
	if d := getenv("XDG_DATA_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "lanchat")
	}
	if home := getenv("HOME"); filepath.IsAbs(home) {
		return filepath.Join(home, ".local", "share", "lanchat")
	}
	return ""
}

// defaultDownloadDir is the lanchat folder of the XDG download dir
// ($XDG_DOWNLOAD_DIR, else its line in user-dirs.dirs), else
// ~/Downloads/lanchat, else "" (no home: files cannot be accepted).
func defaultDownloadDir(getenv func(string) string) string {
	home := getenv("HOME")
	if d := getenv("XDG_DOWNLOAD_DIR"); filepath.IsAbs(d) {
		return filepath.Join(d, "lanchat")
	}
	config := getenv("XDG_CONFIG_HOME")
	if !filepath.IsAbs(config) && filepath.IsAbs(home) {
		config = filepath.Join(home, ".config")
	}
	if d := userDirsDownload(filepath.Join(config, "user-dirs.dirs"), home); d != "" {
		return filepath.Join(d, "lanchat")
	}
	if filepath.IsAbs(home) {
		return filepath.Join(home, "Downloads", "lanchat")
	}
	return ""
}

// userDirsDownload reads XDG_DOWNLOAD_DIR from the user-dirs.dirs file at
// path ("$HOME/…" or an absolute path), or "".
func userDirsDownload(path, home string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		v, ok := strings.CutPrefix(strings.TrimSpace(line), "XDG_DOWNLOAD_DIR=")
		if !ok {
			continue
		}
		v = strings.Trim(v, `"`)
		if rest, ok := strings.CutPrefix(v, "$HOME"); ok && filepath.IsAbs(home) {
			v = home + rest
		}
		if filepath.IsAbs(v) && filepath.Clean(v) != filepath.Clean(home) {
			return filepath.Clean(v) // a download dir that is $HOME itself would scatter files there
		}
	}
	return ""
}

// parseSize reads a size: a whole number of bytes, or one with a unit, B,
// kB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024),
// any case, a space allowed before the unit.
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return r < '0' || r > '9' })
	if i < 0 {
		i = len(t)
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	mult := map[string]int64{"": 1, "b": 1, "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12,
		"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}[unit]
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || mult == 0 || n <= 0 || n > math.MaxInt64/mult {
		return 0, errors.New("want a size like 500MB, 2GiB or 1000000 (bytes)")
	}
	return n * mult, nil
}

// maxNickRunes is the longest nick node accepts.
const maxNickRunes = 32

// defaultNick picks a nick from $LANCHAT_NICK, $USER or the hostname, made
// valid: control and other invisible characters dropped, white space turned
// into single spaces and trimmed, at most 32 characters. "" lets node pick
// one from the peer ID.
func defaultNick(getenv func(string) string) string {
	host, _ := os.Hostname()
	for _, s := range []string{getenv("LANCHAT_NICK"), getenv("USER"), host} {
		if nick := clampNick(s); nick != "" {
			// $USER or a hostname may hold what a nick may not ("#", "<"):
			// shown cleaned up rather than refused.
			return chat.SanitizeNick(nick)
		}
	}
	return ""
}

// clampNick makes s a valid nick, or "" when nothing usable is left.
func clampNick(s string) string {
	s = strings.ToValidUTF8(s, "")
	var b strings.Builder
	n := 0
	space := false
	for _, r := range s {
		switch {
		case unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		case !unicode.IsGraphic(r) || unicode.Is(unicode.Mn, r) && b.Len() == 0:
			continue
		}
		if space {
			if n+2 > maxNickRunes {
				break
			}
			b.WriteByte(' ')
			n++
			space = false
		}
		if n+1 > maxNickRunes {
			break
		}
		b.WriteRune(r)
		n++
	}
	if !utf8.ValidString(b.String()) {
		return ""
	}
	return b.String()
}

// openLogger returns the log handler for the run: to --log-file if given,
// else warnings to stderr in the line modes (only errors when stderr is a
// terminal in plain mode, where warnings would repeat the "!" lines) and
// nothing in the full-screen UI (logs on stderr would corrupt the screen).
// -v lowers the level to debug.
func openLogger(o options, screen bool, stderr io.Writer) (slog.Handler, func(), error) {
	level := slog.LevelInfo
	if o.verbose {
		level = slog.LevelDebug
	}
	if o.logFile != "" {
		f, err := openLogFile(o.logFile)
		if err != nil {
			return nil, nil, err
		}
		return slog.NewTextHandler(f, &slog.HandlerOptions{Level: level}), func() { f.Close() }, nil
	}
	if screen {
		return slog.DiscardHandler, func() {}, nil
	}
	switch {
	case o.verbose:
		level = slog.LevelDebug
	case isTerminal(stderr) && !o.json:
		// Plain lines on a terminal: stderr is the same screen, and what
		// the node warns about it also reports as a "!" line.
		level = slog.LevelError
	default:
		level = slog.LevelWarn
	}
	return slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}), func() {}, nil
}

// openLogFile opens the --log-file for appending, creating it with mode
// 0600. It refuses a symbolic link (another user's link in a shared
// directory would make lanchat append to a file of its choosing) and
// anything but a regular file (a named pipe would hang the start); its
// errors are one sentence.
func openLogFile(path string) (*os.File, error) {
	refuse := func(m fs.FileMode) (*os.File, error) {
		return nil, fmt.Errorf("cannot open log file %q: it is %s; give the path of a regular file", path, files.Kind(m))
	}
	if st, err := os.Lstat(path); err == nil && !st.Mode().IsRegular() {
		return refuse(st.Mode())
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND|oNoFollow|syscall.O_NONBLOCK, 0o600)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) { // made a link since the Lstat
			return refuse(fs.ModeSymlink)
		}
		return nil, fmt.Errorf("cannot open log file %q: %w", path, files.Cause(err))
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("cannot open log file %q: %w", path, files.Cause(err))
		}
		return refuse(st.Mode())
	}
	return f, nil
}

// configFlags names the flag of each node Config field that the user sets.
var configFlags = map[string]string{
	"Nick":            "--nick",
	"PSK":             "--key",
	"IdentityPath":    "--identity",
	"DataDir":         "--data-dir",
	"HistoryMaxLines": "--history-lines",
	"HistoryMaxAge":   "--history-days",
	"ListenAddrs":     "--listen",
	"StaticPeers":     "--peer",
	"Bootstrap":       "--bootstrap",
}

// startError turns an error of starting (node.Start, joining the rooms)
// into one sentence: a [node.ConfigError] is prefixed with its flag, any
// other error is said as it is.
func startError(err error) string {
	var ce *node.ConfigError
	if errors.As(err, &ce) {
		if flag := configFlags[ce.Field]; flag != "" {
			msg := flag + ": " + ce.Reason
			if errors.Is(err, node.ErrIdentityIsNetworkKey) {
				msg += "; give it with --key-file"
			}
			return msg
		}
	}
	return reason(err)
}

// reason is the sentence of a [node.ConfigError], or err's message.
func reason(err error) string {
	var ce *node.ConfigError
	if errors.As(err, &ce) {
		return ce.Reason
	}
	return err.Error()
}

// isUsageError reports whether an error of starting is the user's input.
func isUsageError(err error) bool {
	var ce *node.ConfigError
	return errors.As(err, &ce) || errors.Is(err, chat.ErrInvalidRoom) ||
		errors.Is(err, node.ErrSwarmKey) || errors.Is(err, node.ErrKeyLength)
}

// versionString describes this build.
func versionString() string {
	v := "lanchat (devel)"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	switch {
	case version != "": // a release build (.ci/build)
		return "lanchat " + version + " " + bi.GoVersion
	case bi.Main.Version != "" && bi.Main.Version != "(devel)":
		v = "lanchat " + bi.Main.Version
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " rev " + s.Value[:12]
		}
	}
	return v + " " + bi.GoVersion
}
