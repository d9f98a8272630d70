#![no_main]
// The body and its oracle: healthprobe::fuzz (src/fuzz.rs), seeds in fuzz/seeds/json.
libfuzzer_sys::fuzz_target!(|input: &[u8]| {
    healthprobe::fuzz::run("json", input);
});
