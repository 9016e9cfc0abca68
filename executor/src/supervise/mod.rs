//! PID-1 supervision: spawn, signal forwarding, reaping, ordered stop.
