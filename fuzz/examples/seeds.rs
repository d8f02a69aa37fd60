//! Writes seed corpora for every fuzz target into `corpus/<target>/`, cut from the capture files,
//! key logs (`*.keys`) and DER certificates (`*.der`, `*.der.hex`) given as arguments.
//!
//! Usage: cargo run --example seeds -- OUT_DIR FILE...

use std::path::Path;
use std::{env, fs, process};

use mtlscan::fuzzing::{certificate_seed, seeds_with_keys, TARGETS};

fn main() {
    let mut args = env::args().skip(1);
    let Some(out) = args.next() else {
        eprintln!("usage: seeds OUT_DIR FILE...");
        process::exit(2);
    };
    let out = Path::new(&out);
    for target in TARGETS {
        if let Err(e) = fs::create_dir_all(out.join(target)) {
            eprintln!("seeds: cannot create {}: {e}", out.join(target).display());
            process::exit(2);
        }
    }
    let mut written = 0usize;
    for file in args {
        let Ok(data) = fs::read(&file) else {
            continue;
        };
        let stem = Path::new(&file)
            .file_name()
            .map(|n| n.to_string_lossy().replace(['/', ' '], "_"))
            .unwrap_or_default();
        let found: Vec<(&str, Vec<u8>)> = if file.ends_with(".keys") {
            vec![("keylog", data)]
        } else if file.ends_with(".der.hex") {
            let text = String::from_utf8_lossy(&data);
            match hex_decode(text.trim()) {
                Some(der) => vec![("certificates", certificate_seed(&der))],
                None => Vec::new(),
            }
        } else if file.ends_with(".der") {
            vec![("certificates", certificate_seed(&data))]
        } else {
            // `X-keylog.pcap` comes with its key log `X.keys`.
            let keys = file
                .strip_suffix("-keylog.pcap")
                .and_then(|stem| fs::read(format!("{stem}.keys")).ok())
                .unwrap_or_default();
            seeds_with_keys(&data, &keys)
        };
        for (i, (target, bytes)) in found.into_iter().enumerate() {
            let path = out.join(target).join(format!("{stem}-{i}"));
            if fs::write(&path, bytes).is_ok() {
                written += 1;
            }
        }
    }
    println!("seeds: wrote {written} files under {}", out.display());
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    let text: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    text.chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect()
}
