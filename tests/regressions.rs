//! Minimised inputs that once broke a fuzz target, replayed through the same target. A file's
//! name starts with its target (`reassembly-…`, `capture-…`), then says what it broke.

use std::path::Path;

#[test]
fn every_minimised_input_passes_its_target() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/regressions");
    let mut ran = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let data = std::fs::read(&path).unwrap();
        let target = name.split('-').next().unwrap_or_default();
        match target {
            "capture" => mtlscan::fuzzing::capture(&data),
            "decode" => mtlscan::fuzzing::decode(&data),
            "reassembly" => mtlscan::fuzzing::reassembly(&data),
            "tls" => mtlscan::fuzzing::tls(&data),
            "plaintext" => mtlscan::fuzzing::plaintext(&data),
            "keylog" => mtlscan::fuzzing::keylog(&data),
            "certificates" => mtlscan::fuzzing::certificates(&data),
            "fragments" => mtlscan::fuzzing::fragments(&data),
            "pipeline" => {
                mtlscan::fuzzing::pipeline(&data);
            }
            other => panic!("{name}: no fuzz target {other:?}"),
        }
        ran += 1;
    }
    assert!(ran > 0);
}
