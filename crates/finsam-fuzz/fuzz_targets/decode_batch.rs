//! The event decoder and batch parser on arbitrary bytes: never a panic, and whatever is
//! accepted round-trips through the canonical JSON.
#![no_main]
use finsam_domain::input::parse_batch;
use finsam_domain::Event;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(batch) = parse_batch(data) {
        for (_, e) in batch {
            let again = Event::from_json(&e.to_json()).expect("an accepted event re-reads");
            assert_eq!(again, e);
        }
    }
});
