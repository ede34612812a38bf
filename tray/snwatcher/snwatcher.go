package snwatcher

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/introspect"
	"github.com/godbus/dbus/v5/prop"
)

const (
	watcherPath  = "/StatusNotifierWatcher"
	watcherIface = "org.kde.StatusNotifierWatcher"
	itemIface    = "org.kde.StatusNotifierItem"
	menuIface    = "com.canonical.dbusmenu"
)

// Watcher is the stand-in host. Start it before the tray, so the tray
// finds a host when it starts.
type Watcher struct {
	conn  *dbus.Conn
	props *prop.Properties

	mu    sync.Mutex
	items []string // "bus/path"
	reg   chan *Item
}

// Start connects privately to the session bus (DBUS_SESSION_BUS_ADDRESS)
// and takes the name org.kde.StatusNotifierWatcher. It fails if there is no
// session bus or another host owns the name.
func Start() (*Watcher, error) {
	if strings.TrimSpace(os.Getenv("DBUS_SESSION_BUS_ADDRESS")) == "" {
		return nil, errors.New("snwatcher: DBUS_SESSION_BUS_ADDRESS is not set (run inside dbus-run-session)")
	}
	conn, err := dbus.SessionBusPrivate()
	if err != nil {
		return nil, fmt.Errorf("snwatcher: session bus: %w", err)
	}
	if err := conn.Auth(nil); err != nil {
		conn.Close()
		return nil, fmt.Errorf("snwatcher: session bus auth: %w", err)
	}
	if err := conn.Hello(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("snwatcher: session bus hello: %w", err)
	}
	w := &Watcher{conn: conn, reg: make(chan *Item, 8)}
	if err := conn.Export(exported{w}, watcherPath, watcherIface); err != nil {
		conn.Close()
		return nil, err
	}
	props, err := prop.Export(conn, watcherPath, prop.Map{watcherIface: {
		"RegisteredStatusNotifierItems":  {Value: []string{}, Emit: prop.EmitTrue},
		"IsStatusNotifierHostRegistered": {Value: true, Emit: prop.EmitTrue},
		"ProtocolVersion":                {Value: int32(0), Emit: prop.EmitTrue},
	}})
	if err != nil {
		conn.Close()
		return nil, err
	}
	w.props = props
	node := &introspect.Node{Name: watcherPath, Interfaces: []introspect.Interface{
		introspect.IntrospectData, prop.IntrospectData,
		{Name: watcherIface, Methods: introspect.Methods(exported{w}), Properties: props.Introspection(watcherIface)},
	}}
	if err := conn.Export(introspect.NewIntrospectable(node), watcherPath, "org.freedesktop.DBus.Introspectable"); err != nil {
		conn.Close()
		return nil, err
	}
	reply, err := conn.RequestName(watcherIface, dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		conn.Close()
		if err == nil {
			err = fmt.Errorf("another StatusNotifier host owns %s", watcherIface)
		}
		return nil, fmt.Errorf("snwatcher: %w", err)
	}
	return w, nil
}

// Close releases the name and the bus connection.
func (w *Watcher) Close() error { return w.conn.Close() }

// exported holds the D-Bus methods, so that Watcher's Go methods are not
// exported on the bus.
type exported struct{ w *Watcher }

func (e exported) RegisterStatusNotifierItem(service string, sender dbus.Sender) *dbus.Error {
	bus, path := string(sender), service
	if !strings.HasPrefix(service, "/") { // a bus name instead of a path
		bus, path = service, "/StatusNotifierItem"
	}
	w := e.w
	w.mu.Lock()
	w.items = append(w.items, bus+path)
	items := append([]string(nil), w.items...)
	w.mu.Unlock()
	w.props.SetMust(watcherIface, "RegisteredStatusNotifierItems", items)
	w.conn.Emit(watcherPath, watcherIface+".StatusNotifierItemRegistered", bus+path)
	select {
	case w.reg <- &Item{conn: w.conn, Bus: bus, Path: dbus.ObjectPath(path)}:
	default:
	}
	return nil
}

func (e exported) RegisterStatusNotifierHost(service string) *dbus.Error { return nil }

// WaitItem returns the next tray item that registers.
func (w *Watcher) WaitItem(ctx context.Context) (*Item, error) {
	select {
	case it := <-w.reg:
		return it, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("snwatcher: no tray item registered: %w", ctx.Err())
	}
}

// Item is a registered StatusNotifierItem.
type Item struct {
	conn *dbus.Conn
	Bus  string
	Path dbus.ObjectPath
}

// Property reads one org.kde.StatusNotifierItem property ("Id", "Title",
// "Status", "IconName", "Menu", …).
func (it *Item) Property(name string) (dbus.Variant, error) {
	return it.conn.Object(it.Bus, it.Path).GetProperty(itemIface + "." + name)
}

func (it *Item) menu() (dbus.BusObject, error) {
	v, err := it.Property("Menu")
	if err != nil {
		return nil, fmt.Errorf("snwatcher: item has no Menu: %w", err)
	}
	p, ok := v.Value().(dbus.ObjectPath)
	if !ok {
		return nil, fmt.Errorf("snwatcher: Menu property is %T, not an object path", v.Value())
	}
	return it.conn.Object(it.Bus, p), nil
}

// Node is one dbusmenu item.
type Node struct {
	ID       int32
	Label    string // mnemonic underscores removed
	Type     string // "" or "separator"
	Enabled  bool
	Visible  bool
	Children []*Node
}

// Layout reads the whole menu (GetLayout from the root).
func (it *Item) Layout(ctx context.Context) (*Node, error) {
	m, err := it.menu()
	if err != nil {
		return nil, err
	}
	var rev uint32
	var root []any
	call := m.CallWithContext(ctx, menuIface+".GetLayout", 0, int32(0), int32(-1), []string{})
	if call.Err != nil {
		return nil, fmt.Errorf("snwatcher: GetLayout: %w", call.Err)
	}
	if err := call.Store(&rev, &root); err != nil {
		return nil, fmt.Errorf("snwatcher: GetLayout reply: %w", err)
	}
	return parse(root)
}

func parse(v any) (*Node, error) {
	parts, ok := v.([]any)
	if !ok || len(parts) != 3 {
		return nil, fmt.Errorf("snwatcher: unexpected layout node %T", v)
	}
	id, _ := parts[0].(int32)
	props, _ := parts[1].(map[string]dbus.Variant)
	n := &Node{ID: id, Enabled: true, Visible: true}
	if l, ok := props["label"]; ok {
		s, _ := l.Value().(string)
		n.Label = unmnemonic(s)
	}
	if t, ok := props["type"]; ok {
		n.Type, _ = t.Value().(string)
	}
	if e, ok := props["enabled"]; ok {
		n.Enabled, _ = e.Value().(bool)
	}
	if e, ok := props["visible"]; ok {
		n.Visible, _ = e.Value().(bool)
	}
	children, _ := parts[2].([]dbus.Variant)
	for _, c := range children {
		cn, err := parse(c.Value())
		if err != nil {
			return nil, err
		}
		n.Children = append(n.Children, cn)
	}
	return n, nil
}

// unmnemonic drops dbusmenu's access-key underscores ("_" marks the key,
// "__" is a literal underscore).
func unmnemonic(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '_' {
			if i+1 < len(s) && s[i+1] == '_' {
				b.WriteByte('_')
				i++
			}
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Shown is the root's visible children, in order (separators included,
// with Label "").
func (n *Node) Shown() []*Node {
	var out []*Node
	for _, c := range n.Children {
		if c.Visible {
			out = append(out, c)
		}
	}
	return out
}

// Labels is Shown's labels, separators written as "---".
func (n *Node) Labels() []string {
	var out []string
	for _, c := range n.Shown() {
		if c.Type == "separator" {
			out = append(out, "---")
			continue
		}
		out = append(out, c.Label)
	}
	return out
}

// After returns the first shown item labelled label that follows the shown
// item labelled anchor ("" = from the top), or nil.
func (n *Node) After(anchor, label string) *Node {
	seen := anchor == ""
	for _, c := range n.Shown() {
		if !seen {
			seen = c.Label == anchor
			continue
		}
		if c.Label == label {
			return c
		}
	}
	return nil
}

// Click sends the "clicked" event to the menu item id, as a host does when
// the user picks it.
func (it *Item) Click(ctx context.Context, id int32) error {
	m, err := it.menu()
	if err != nil {
		return err
	}
	call := m.CallWithContext(ctx, menuIface+".Event", 0, id, "clicked", dbus.MakeVariant(""), uint32(time.Now().Unix()))
	if call.Err != nil {
		return fmt.Errorf("snwatcher: Event clicked %d: %w", id, call.Err)
	}
	return nil
}

// WaitLayout polls the layout until ok accepts it or ctx ends; the error
// then shows the last layout seen.
func (it *Item) WaitLayout(ctx context.Context, ok func(*Node) bool) (*Node, error) {
	var last *Node
	var lastErr error
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		n, err := it.Layout(ctx)
		if err == nil {
			last = n
			if ok(n) {
				return n, nil
			}
		} else {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return last, fmt.Errorf("snwatcher: menu never matched; last shown: %q", last.Labels())
			}
			return nil, fmt.Errorf("snwatcher: menu never read: %v", lastErr)
		case <-tick.C:
		}
	}
}
