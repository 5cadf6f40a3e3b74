//! The log line reader on arbitrary bytes: never a panic, and a line it accepts has a sound
//! chain link with the same seq and hash.
#![no_main]
use finsam_store::envelope::{chain_link, Envelope};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match Envelope::open(data) {
        Ok(env) => {
            let link = chain_link(data).expect("an accepted line has a sound link");
            assert_eq!((link.seq, link.hash), (env.seq, env.hash));
        }
        Err(_) => {
            let _ = chain_link(data);
        }
    }
});
