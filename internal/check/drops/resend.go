package drops

// Resends is how many times the failing probe is sent again while the tracer is attached.
const Resends = 3
