//! The sync engine: triggers (watch, tick, final) running state then logs under one lock.
