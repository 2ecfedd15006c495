#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| medchain_fuzzing::zk_text(data));
