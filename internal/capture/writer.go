package capture

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// ErrFileFull is returned by Writer.WritePacket when the packet would take the file past its byte
// limit; the packet is not written and the file stays valid.
var ErrFileFull = errors.New("capture: file size limit reached")

// DefaultMaxBytes is the default file size limit (100 MiB).
const DefaultMaxBytes = 100 << 20

// WriterOptions shape a capture file.
type WriterOptions struct {
	// PcapNG writes pcapng instead of pcap (nanosecond timestamps either way).
	PcapNG bool
	// MaxBytes is the file size limit, headers included (0: no limit).
	MaxBytes int64
	// Iface names the interface in the pcapng interface block.
	Iface string
}

// writeBuffer is the pcap write buffer: big writes keep system calls (and the Go runtime's
// scheduler work around them) rare.
const writeBuffer = 1 << 20

// Writer writes captured packets to a pcap or pcapng file that is valid after every Flush and after
// Close, whatever ended the capture.
type Writer struct {
	opts    WriterOptions
	f       *os.File // nil when writing to a caller's io.Writer
	bw      *bufio.Writer
	pcap    *pcapgo.Writer
	ng      *pcapgo.NgWriter
	size    int64 // file size once flushed: header plus records
	packets int
	start   time.Time
	closed  bool
}

// Create creates (or truncates) path with mode 0600 and writes the file header for linkType.
func Create(path string, linkType layers.LinkType, snaplen int, opts WriterOptions) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("capture: create %s: %w", path, err)
	}
	_ = f.Chmod(0o600) // an existing file keeps its mode otherwise
	w, err := NewWriter(f, linkType, snaplen, opts)
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	w.f = f
	return w, nil
}

// NewWriter writes a capture file to out (stdout, say); Close flushes but does not close out.
func NewWriter(out io.Writer, linkType layers.LinkType, snaplen int, opts WriterOptions) (*Writer, error) {
	w := &Writer{opts: opts, start: time.Now()}
	cw := &countWriter{w: out}
	if opts.PcapNG {
		name := opts.Iface
		if name == "" {
			name = "unknown"
		}
		ng, err := pcapgo.NewNgWriterInterface(cw, pcapgo.NgInterface{
			Name: name, OS: runtime.GOOS, LinkType: linkType, SnapLength: uint32(snaplen), TimestampResolution: 9,
		}, pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{
			Hardware: runtime.GOARCH, OS: runtime.GOOS, Application: "netdoctor capture",
		}})
		if err != nil {
			return nil, fmt.Errorf("capture: pcapng header: %w", err)
		}
		w.ng = ng
		if err := ng.Flush(); err != nil {
			return nil, fmt.Errorf("capture: pcapng header: %w", err)
		}
		w.size = cw.n
		return w, nil
	}
	w.bw = bufio.NewWriterSize(cw, writeBuffer)
	w.pcap = pcapgo.NewWriterNanos(w.bw)
	if err := w.pcap.WriteFileHeader(uint32(snaplen), linkType); err != nil {
		return nil, fmt.Errorf("capture: pcap header: %w", err)
	}
	if err := w.bw.Flush(); err != nil {
		return nil, fmt.Errorf("capture: pcap header: %w", err)
	}
	w.size = cw.n
	return w, nil
}

// recordSize is how many bytes a packet of caplen bytes adds to the file.
func (w *Writer) recordSize(caplen int) int64 {
	if w.ng != nil {
		return int64(32 + (caplen+3)&^3)
	}
	return int64(16 + caplen)
}

// WritePacket appends p; ErrFileFull (nothing written) when the size limit would be exceeded.
func (w *Writer) WritePacket(p *Packet) error {
	rec := w.recordSize(len(p.Data))
	if w.opts.MaxBytes > 0 && w.size+rec > w.opts.MaxBytes {
		return ErrFileFull
	}
	ci := gopacket.CaptureInfo{Timestamp: p.Timestamp, CaptureLength: len(p.Data), Length: p.Length}
	if ci.Length < ci.CaptureLength {
		ci.Length = ci.CaptureLength
	}
	var err error
	switch {
	case w.ng != nil:
		err = w.ng.WritePacket(ci, p.Data)
	case w.bw.Available() >= int(rec) || w.bw.Flush() == nil && w.bw.Available() >= int(rec):
		// The hot path: one append of record header and data into the buffer (what
		// pcapgo.Writer.WritePacket writes, without its two copies per packet).
		b := w.bw.AvailableBuffer()
		b = binary.LittleEndian.AppendUint32(b, uint32(p.Timestamp.Unix()))
		b = binary.LittleEndian.AppendUint32(b, uint32(p.Timestamp.Nanosecond()))
		b = binary.LittleEndian.AppendUint32(b, uint32(ci.CaptureLength))
		b = binary.LittleEndian.AppendUint32(b, uint32(ci.Length))
		b = append(b, p.Data...)
		_, err = w.bw.Write(b)
	default:
		err = w.pcap.WritePacket(ci, p.Data)
	}
	if err != nil {
		return fmt.Errorf("capture: write packet: %w", err)
	}
	w.packets++
	w.size += rec
	return nil
}

// Packets is the number of packets written.
func (w *Writer) Packets() int { return w.packets }

// Bytes is the file size once flushed.
func (w *Writer) Bytes() int64 { return w.size }

// Flush writes buffered packets out, leaving a valid file.
func (w *Writer) Flush() error {
	var err error
	if w.ng != nil {
		err = w.ng.Flush()
	} else {
		err = w.bw.Flush()
	}
	if err != nil {
		return fmt.Errorf("capture: flush: %w", err)
	}
	return nil
}

// Close flushes and, for a file made by Create, syncs and closes it. For pcapng, st (when not nil)
// is recorded as the interface's statistics. Closing twice is a no-op.
func (w *Writer) Close(st *Stats) error {
	if w.closed {
		return nil
	}
	w.closed = true
	var errs []error
	if w.ng != nil && st != nil {
		now := time.Now()
		errs = append(errs, w.ng.WriteInterfaceStats(0, pcapgo.NgInterfaceStatistics{
			LastUpdate: now, StartTime: w.start, EndTime: now,
			PacketsReceived: st.Received, PacketsDropped: st.Dropped,
		}))
	}
	errs = append(errs, w.Flush())
	if w.f != nil {
		if fi, err := w.f.Stat(); err == nil {
			w.size = fi.Size() // includes the pcapng statistics block
		}
		errs = append(errs, w.f.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("capture: close file: %w", err)
	}
	return nil
}

// countWriter counts bytes that reach the underlying writer (used to size the file header).
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}
