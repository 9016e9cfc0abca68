//! The schedule dialect of scheduled bots (`orchestrator/src/schedule/cron.rs`: robfig/cron's
//! five/six fields, names, `@every`, `TZ=`): a parsed schedule's next fire is strictly later
//! than the instant asked about and within the horizon; `first_after` never goes back in time.
#![no_main]

use libfuzzer_sys::fuzz_target;
use the0_orchestrator::schedule::cron::parse;

/// 2025-01-31T12:00:00Z, and a spring-forward night in Europe (2025-03-30T00:30:00Z).
const INSTANTS: [i64; 2] = [1_738_324_800_000, 1_743_294_600_000];

fuzz_target!(|data: &[u8]| {
    let Ok(expr) = std::str::from_utf8(data) else { return };
    let Ok(s) = parse(expr) else { return };
    for at in INSTANTS {
        if let Some(next) = s.next_after(at) {
            assert!(next > at, "{expr:?}: next {next} not after {at}");
        }
        if let Some(next) = s.first_after(at - 90_000, at) {
            assert!(next > at, "{expr:?}: first_after {next} not after {at}");
        }
    }
});
