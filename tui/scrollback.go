package tui

import (
	"sort"
	"strings"

	"github.com/charmbracelet/x/ansi"
)

// span is a run of text drawn in one style. A nil style draws it plain.
type span struct {
	text  string
	style *paint
}

// entryKind classifies a scrollback entry.
type entryKind uint8

const (
	kindMessage  entryKind = iota // someone else's chat line or action
	kindOwn                       // our own chat line or action
	kindPresence                  // join, leave, nick change
	kindNotice                    // notice from the node
	kindError                     // something failed
	kindInfo                      // output of a command
	kindDay                       // day-change line
	kindHistory                   // separator above a batch of history lines
)

// styledRow is one wrapped display row with its width in cells.
type styledRow struct {
	s string
	w int
}

// entry is one logical line of the scrollback. It keeps its spans and
// caches its rows wrapped for one width and width method, so scrolling and
// typing never re-wrap the history; a resize re-wraps only what is shown.
type entry struct {
	kind   entryKind
	spans  []span
	indent int // continuation rows are indented this many cells
	// at and id are where the entry sorts when history is inserted (see
	// [scrollback.insert]): a chat line's order key in Unix nanoseconds and
	// its message ID; other entries have the time they were shown at and
	// no ID.
	at int64
	id string

	rows    []styledRow
	wrapKey int // key of the width and method rows were wrapped for; 0 = none
}

// wrapKeyFor combines a width and width method into a cache key; never 0.
func wrapKeyFor(width int, method ansi.Method) int {
	return max(width, 1)<<2 | int(method)<<1 | 1
}

// cluster is one grapheme cluster of a span, measured.
type cluster struct {
	s     string
	w     int
	span  int
	space bool
}

// wrapSpans word-wraps spans to rows of at most width cells measured with
// method. Rows after the first are indented by indent cells (none if the
// width is too small for it). Lines break after spaces and before or after
// wide (CJK) characters, which need no space between words; a word longer
// than a row is broken at the row's end. Spaces at a break are dropped.
func wrapSpans(spans []span, width, indent int, method ansi.Method) []styledRow {
	width = max(width, 1)
	indent = effectiveIndent(width, indent)
	// Most lines fit on one row: draw them without measuring clusters.
	total, size := 0, 0
	for _, sp := range spans {
		total += method.StringWidth(sp.text)
		size += len(sp.text)
	}
	if total <= width {
		var b strings.Builder
		b.Grow(size + len(spans)*16)
		for _, sp := range spans {
			b.WriteString(sp.style.Render(sp.text))
		}
		return []styledRow{{s: b.String(), w: total}}
	}
	cells := make([]cluster, 0, size)
	for si, sp := range spans {
		for s := sp.text; s != ""; {
			c, w := ansi.FirstGraphemeCluster(s, method)
			if len(c) == 0 {
				break
			}
			s = s[len(c):]
			if w > width-indent {
				// a character wider than a row: it cannot be shown
				c, w = strings.Repeat(" ", width-indent), width-indent
			}
			cells = append(cells, cluster{s: c, w: w, span: si, space: c == " "})
		}
	}

	var (
		rows    [][]cluster
		cur     []cluster
		curW    int
		breakAt int // cur[:breakAt] may end a row; 0 = no break point yet
	)
	avail := func() int {
		if len(rows) == 0 {
			return width
		}
		return width - indent
	}
	flush := func(n int) {
		row := cur[:n]
		for len(row) > 0 && row[len(row)-1].space {
			row = row[:len(row)-1]
		}
		rows = append(rows, row)
		rest := cur[n:]
		for len(rest) > 0 && rest[0].space {
			rest = rest[1:]
		}
		cur = append([]cluster(nil), rest...)
		curW, breakAt = 0, 0
		for i, c := range cur {
			curW += c.w
			if c.space || c.w > 1 {
				breakAt = i + 1
			}
		}
	}
	for _, c := range cells {
		if c.space && len(cur) == 0 && len(rows) > 0 {
			continue // no leading space on a continuation row
		}
		for len(cur) > 0 && curW+c.w > avail() {
			a := avail()
			switch {
			case (c.space || c.w > 1) && curW <= a:
				flush(len(cur)) // break before a space or a wide character
			case breakAt > 0 && breakAt < len(cur) && widthOf(cur[:breakAt]) <= a:
				flush(breakAt)
			default:
				// hard break inside a word too long for a row (also what
				// was carried over from a wider first row)
				n, w := 0, 0
				for n < len(cur) && w+cur[n].w <= a {
					w += cur[n].w
					n++
				}
				flush(max(n, 1))
			}
		}
		if c.space && len(cur) == 0 && len(rows) > 0 {
			continue
		}
		cur = append(cur, c)
		curW += c.w
		if c.space || c.w > 1 {
			breakAt = len(cur)
		}
	}
	if len(cur) > 0 || len(rows) == 0 {
		flush(len(cur))
	}

	out := make([]styledRow, len(rows))
	var b strings.Builder
	for i, row := range rows {
		b.Reset()
		w := 0
		if i > 0 && indent > 0 {
			b.WriteString(strings.Repeat(" ", indent))
			w = indent
		}
		for j := 0; j < len(row); {
			k := j
			var seg strings.Builder
			for k < len(row) && row[k].span == row[j].span {
				seg.WriteString(row[k].s)
				w += row[k].w
				k++
			}
			if st := spans[row[j].span].style; st != nil {
				b.WriteString(st.Render(seg.String()))
			} else {
				b.WriteString(seg.String())
			}
			j = k
		}
		out[i] = styledRow{s: b.String(), w: w}
	}
	return out
}

// entryStore is a list of entries kept in fixed-size blocks, so a long
// session never copies its whole history to grow it (a pause the user
// would feel while typing). Entries are added at the end and dropped from
// the front (see [entryStore.dropFront]); a block whose entries are all
// dropped is let go.
type entryStore struct {
	blocks [][]entry
	off    int // blocks[0][:off] are dropped entries; off < entryBlock
	n      int
}

// entryBlock is the number of entries per block: a block is about 100 KB,
// so a quiet room costs little and a full one (see [ScreenOptions]) keeps
// a few.
const entryBlock = 1024

func (s *entryStore) len() int { return s.n }

func (s *entryStore) at(i int) *entry {
	i += s.off
	return &s.blocks[i/entryBlock][i%entryBlock]
}

func (s *entryStore) add(e entry) {
	if (s.off+s.n)%entryBlock == 0 {
		s.blocks = append(s.blocks, make([]entry, 0, entryBlock))
	}
	b := &s.blocks[len(s.blocks)-1]
	*b = append(*b, e)
	s.n++
}

// truncate drops the entries from n on.
func (s *entryStore) truncate(n int) {
	end := s.off + n
	nb := (end + entryBlock - 1) / entryBlock
	clear(s.blocks[nb:])
	s.blocks = s.blocks[:nb]
	if r := end % entryBlock; r != 0 {
		b := &s.blocks[nb-1]
		clear((*b)[r:])
		*b = (*b)[:r]
	}
	s.n = n
}

// dropFront drops the oldest k entries (k <= len). Their memory is freed:
// each is zeroed, and a block is released once all its entries are gone.
func (s *entryStore) dropFront(k int) {
	for range k {
		*s.at(0) = entry{}
		s.off++
		s.n--
		if s.off == entryBlock {
			s.blocks[0] = nil
			s.blocks = s.blocks[1:]
			s.off = 0
		}
	}
	if s.n == 0 {
		*s = entryStore{}
	}
}

// effectiveIndent returns the continuation indent used for rows of width
// cells: none when it would leave less than half the row, or no room for a
// wide character.
func effectiveIndent(width, indent int) int {
	if indent > width/2 || width-indent < 2 {
		return 0
	}
	return indent
}

// widthOf returns the width of clusters.
func widthOf(cs []cluster) int {
	w := 0
	for _, c := range cs {
		w += c.w
	}
	return w
}

// rowPos names one display row of the scrollback: row r of entry e.
type rowPos struct{ e, r int }

// less reports whether p is above q.
func (p rowPos) less(q rowPos) bool {
	return p.e < q.e || (p.e == q.e && p.r < q.r)
}

// scrollback is a room's history with a viewport onto it.
//
// The viewport is anchored at its bottom row: follow means it shows the
// newest rows and moves with them; otherwise anchor is the last row shown
// and new entries do not move it. Rows are wrapped lazily for the current
// width and cached per entry.
//
// It keeps at most maxEntries entries and maxBytes bytes of their text
// (see [entry.size]): beyond either, the oldest entries are dropped, so a
// flood of lines costs bounded memory however long it lasts.
type scrollback struct {
	entries entryStore
	follow  bool
	anchor  rowPos
	unread  int // chat lines that arrived while not following

	maxEntries int // most entries kept; 0 = no limit
	maxBytes   int // most bytes of text kept; 0 = no limit
	bytes      int // bytes of text of the entries kept
	dropped    int // entries dropped off the top since the last clear (see [cachedEntry])

	width  int
	method ansi.Method

	// wrapped lists entries whose rows are cached, oldest first, with the
	// key they were wrapped for. Beyond maxCachedEntries the oldest caches
	// are dropped: a room keeps its text, not every row drawn, which keeps
	// the heap (and the garbage collector's pauses) small.
	wrapped []cachedEntry
}

// cachedEntry is an entry whose rows were cached for wrapKey. Its index i
// counts from the first entry added since the last clear, dropped ones
// included: entry i is now at i - [scrollback.dropped], and is gone when
// that is negative.
type cachedEntry struct{ i, wrapKey int }

// maxCachedEntries bounds how many entries keep their wrapped rows; far
// more than a screen shows, so scrolling a page back never re-wraps more
// than a screenful.
const maxCachedEntries = 4096

// size is what an entry counts against the byte limit of a scrollback:
// the bytes of its text and message ID. Its wrapped rows are a cache (see
// [maxCachedEntries]) and not counted.
func (e *entry) size() int {
	n := len(e.id)
	for _, sp := range e.spans {
		n += len(sp.text)
	}
	return n
}

// add appends an entry; [scrollback.prepare] wraps it when it is shown.
// The oldest entries are dropped if it is over its limits then.
func (sb *scrollback) add(e entry) {
	sb.entries.add(e)
	sb.bytes += e.size()
	if !sb.follow && e.kind == kindMessage {
		sb.unread++
	}
	sb.trim()
}

// trim drops the oldest entries while there are more than maxEntries or
// their text is more than maxBytes; the newest entry is always kept. The
// anchor moves with its entry, or to the top row when its entry is
// dropped; [scrollback.prepare] then keeps the viewport full. (Doing that
// here would wrap every line of a flood.)
func (sb *scrollback) trim() {
	n, bytes := sb.entries.len(), sb.bytes
	k := 0
	for k < n-1 && ((sb.maxEntries > 0 && n-k > sb.maxEntries) || (sb.maxBytes > 0 && bytes > sb.maxBytes)) {
		bytes -= sb.entries.at(k).size()
		k++
	}
	if k == 0 {
		return
	}
	sb.entries.dropFront(k)
	// The records of row caches count entries from the first ever added:
	// they need no change, [scrollback.evict] skips those dropped.
	sb.bytes, sb.dropped = bytes, sb.dropped+k
	if !sb.follow {
		sb.anchor.e -= k
		if sb.anchor.e < 0 {
			sb.anchor = rowPos{}
		}
	}
}

// sortsAfter reports whether e sorts after the key at, id: by key, then ID.
func (e *entry) sortsAfter(at int64, id string) bool {
	return e.at > at || (e.at == at && e.id > id)
}

// insert puts batch, sorted by (at, id), in its place among the entries:
// each entry of the batch goes right after the newest entry that does not
// sort after it. Entries are in the order they were shown, which is nearly
// but not strictly sorted (live lines sort by their senders' clocks, other
// entries by the time they were shown): looking from the newest end, an
// old entry whose key is ahead does not pull newer lines up above it.
// Entries of the batch with equal keys keep their order. The viewport keeps showing the same
// rows: following, it stays at the bottom; scrolled up, its anchor moves
// with its entry. Inserted lines are not counted as unread.
//
// It costs O(len(batch) + the entries from the first insertion point on),
// so a batch of recent lines leaves the old history untouched.
func (sb *scrollback) insert(batch []entry) {
	if len(batch) == 0 {
		return
	}
	n := sb.entries.len()
	// pos[i] is the index of the old entry batch[i] goes before (n: at
	// the end); it does not decrease with i, so one backward walk finds
	// them all.
	pos := make([]int, len(batch))
	j := n
	for i := len(batch) - 1; i >= 0; i-- {
		b := &batch[i]
		for j > 0 && sb.entries.at(j-1).sortsAfter(b.at, b.id) {
			j--
		}
		pos[i] = j
	}
	lo := pos[0]
	tail := make([]entry, 0, n-lo)
	for i := lo; i < n; i++ {
		tail = append(tail, *sb.entries.at(i))
	}
	sb.entries.truncate(lo)
	k := 0
	for t := range tail {
		for ; k < len(batch) && pos[k] <= lo+t; k++ {
			sb.entries.add(batch[k])
		}
		sb.entries.add(tail[t])
	}
	for ; k < len(batch); k++ {
		sb.entries.add(batch[k])
	}
	for i := range batch {
		sb.bytes += batch[i].size()
	}
	// Old entry i is now at i plus the number inserted before it.
	moved := func(i int) int { return i + sort.SearchInts(pos, i+1) }
	for c := range sb.wrapped {
		if i := sb.wrapped[c].i - sb.dropped; i >= 0 {
			sb.wrapped[c].i = moved(i) + sb.dropped
		}
	}
	if !sb.follow {
		sb.anchor.e = moved(sb.anchor.e)
	}
	sb.trim()
}

// clear forgets the whole history and lets its memory go: the blocks of
// entries, their text and their wrapped rows, and the list of row caches
// are dropped, not emptied for reuse. The limits and width stay.
func (sb *scrollback) clear() {
	sb.entries, sb.wrapped = entryStore{}, nil
	sb.bytes, sb.dropped = 0, 0
	sb.follow, sb.unread = true, 0
	sb.anchor = rowPos{}
}

// rowsOf returns entry i's rows for the current width, wrapping and caching
// them if needed.
func (sb *scrollback) rowsOf(i int) []styledRow {
	e := sb.entries.at(i)
	key := wrapKeyFor(sb.width, sb.method)
	if e.wrapKey != key {
		e.rows = wrapSpans(e.spans, sb.width, e.indent, sb.method)
		e.wrapKey = key
		sb.wrapped = append(sb.wrapped, cachedEntry{sb.dropped + i, key})
		if len(sb.wrapped) > 2*maxCachedEntries {
			sb.evict()
		}
	}
	return e.rows
}

// evict drops the oldest row caches beyond maxCachedEntries. A cache that
// was re-wrapped since (a newer record exists) is left alone.
func (sb *scrollback) evict() {
	drop := sb.wrapped[:len(sb.wrapped)-maxCachedEntries]
	for _, c := range drop {
		if i := c.i - sb.dropped; i >= 0 {
			if e := sb.entries.at(i); e.wrapKey == c.wrapKey {
				e.rows, e.wrapKey = nil, 0
			}
		}
	}
	sb.wrapped = append(sb.wrapped[:0], sb.wrapped[len(drop):]...)
}

// peekRows returns entry i's rows for the current width without caching
// them (for View, which must not change the model).
func (sb *scrollback) peekRows(i int) []styledRow {
	e := sb.entries.at(i)
	if e.wrapKey == wrapKeyFor(sb.width, sb.method) {
		return e.rows
	}
	return wrapSpans(e.spans, sb.width, e.indent, sb.method)
}

// last returns the position of the newest row. The scrollback must not be empty.
func (sb *scrollback) last() rowPos {
	i := sb.entries.len() - 1
	return rowPos{i, len(sb.rowsOf(i)) - 1}
}

// bottom returns the last row the viewport shows.
func (sb *scrollback) bottom() rowPos {
	if sb.follow {
		return sb.last()
	}
	return sb.anchor
}

// back returns p moved n rows up, stopping at the first row.
func (sb *scrollback) back(p rowPos, n int) rowPos {
	for n > 0 {
		if p.r >= n {
			p.r -= n
			return p
		}
		if p.e == 0 {
			p.r = 0
			return p
		}
		n -= p.r + 1
		p.e--
		p.r = len(sb.rowsOf(p.e)) - 1
	}
	return p
}

// forward returns p moved n rows down, stopping at the last row.
func (sb *scrollback) forward(p rowPos, n int) rowPos {
	for n > 0 {
		rows := len(sb.rowsOf(p.e))
		if p.r+n < rows {
			p.r += n
			return p
		}
		if p.e == sb.entries.len()-1 {
			p.r = rows - 1
			return p
		}
		n -= rows - p.r
		p.e++
		p.r = 0
	}
	return p
}

// setAnchor scrolls so that p is the bottom row of a viewport of height
// rows, keeping the viewport full and following when p is the newest row.
func (sb *scrollback) setAnchor(p rowPos, height int) {
	if sb.entries.len() == 0 {
		sb.follow, sb.unread = true, 0
		return
	}
	if top := sb.forward(rowPos{}, height-1); p.less(top) {
		p = top
	}
	if !p.less(sb.last()) {
		sb.follow, sb.unread = true, 0
		return
	}
	sb.follow, sb.anchor = false, p
}

// scroll moves the viewport n rows down (n < 0: up).
func (sb *scrollback) scroll(n, height int) {
	if sb.entries.len() == 0 {
		return
	}
	p := sb.bottom()
	if n < 0 {
		p = sb.back(p, -n)
	} else {
		p = sb.forward(p, n)
	}
	sb.setAnchor(p, height)
}

// toTop scrolls to the oldest row.
func (sb *scrollback) toTop(height int) {
	if sb.entries.len() == 0 {
		return
	}
	sb.setAnchor(rowPos{}, height)
}

// atTop reports whether a scrolled-up viewport of height rows shows the
// oldest row kept.
func (sb *scrollback) atTop(height int) bool {
	if sb.follow || sb.entries.len() == 0 || sb.anchor.e >= height {
		return false // each entry has a row at least
	}
	return !sb.forward(rowPos{}, max(height, 1)-1).less(sb.anchor)
}

// toBottom follows the newest rows again.
func (sb *scrollback) toBottom() {
	sb.follow, sb.unread = true, 0
}

// resize sets the wrap width and method, keeping the anchor on the same
// entry and the viewport full.
func (sb *scrollback) resize(width int, method ansi.Method, height int) {
	sb.width, sb.method = max(width, 1), method
	if sb.follow || sb.entries.len() == 0 {
		return
	}
	p := sb.anchor
	p.r = min(p.r, len(sb.rowsOf(p.e))-1)
	sb.setAnchor(p, height)
}

// prepare wraps and caches the entries a viewport of height rows shows, so
// that View finds them ready. Scrolled up near the top, where entries were
// dropped since (see [scrollback.trim]), it moves the anchor down to keep
// the viewport full.
func (sb *scrollback) prepare(height int) {
	if sb.entries.len() == 0 {
		return
	}
	if !sb.follow && sb.anchor.e < height {
		// Each entry has a row at least: only an anchor among the first
		// height entries can be above the top viewport's bottom row.
		if top := sb.forward(rowPos{}, height-1); sb.anchor.less(top) {
			sb.setAnchor(top, height)
		}
	}
	p := sb.bottom()
	sb.rowsOf(p.e) // back does not wrap the entry it starts in
	sb.back(p, height-1)
}

// visible returns the rows of a viewport of height rows, top first. With
// fewer rows in the history than the viewport holds they start at the top.
func (sb *scrollback) visible(height int) []styledRow {
	if sb.entries.len() == 0 || height <= 0 {
		return nil
	}
	p := rowPos{sb.entries.len() - 1, -1}
	if !sb.follow {
		p = sb.anchor
	}
	out := make([]styledRow, 0, height)
	// Walk up from the bottom row collecting rows, then reverse.
	for e := p.e; e >= 0 && len(out) < height; e-- {
		rows := sb.peekRows(e)
		r := len(rows) - 1
		if e == p.e && p.r >= 0 {
			r = min(p.r, r)
		}
		for ; r >= 0 && len(out) < height; r-- {
			out = append(out, rows[r])
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}
