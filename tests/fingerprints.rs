//! JA4 and JA3 on real captures: `latest.pcapng` from the JA4 project, against the JA4 values
//! the project publishes for it (its Python test data), and the repository's own samples,
//! against tshark's JA3.
//!
//! The shared capture corpus is found by walking up from the crate for `shared/captures`; the
//! test says so and passes when it is absent.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

fn corpus() -> Option<PathBuf> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|a| a.join("shared/captures"))
        .find(|p| p.is_dir())
}

/// `client port → (ja4, ja4_r, ja3)` of every flow with a ClientHello.
fn fingerprints(capture: &Path) -> BTreeMap<u64, (String, String, String)> {
    let out = Command::cargo_bin("mtlscan")
        .unwrap()
        .args(["-q", "--format", "json"])
        .arg(capture)
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    doc["flows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["tls"]["ja4"].is_string())
        .map(|f| {
            let t = &f["tls"];
            let s = |k: &str| t[k].as_str().unwrap_or_default().to_string();
            (
                f["client"]["port"].as_u64().unwrap(),
                (s("ja4"), s("ja4_r"), s("ja3")),
            )
        })
        .collect()
}

#[test]
fn ja4_matches_the_ja4_projects_published_output() {
    let Some(root) = corpus() else {
        eprintln!("shared/captures not found: JA4 corpus check skipped");
        return;
    };
    let capture = root.join("ja4/latest.pcapng");
    if !capture.is_file() {
        eprintln!("{} not found: JA4 corpus check skipped", capture.display());
        return;
    }
    let got = fingerprints(&capture);
    let chrome = "t13d1516h2_8daaf6152771_e5627efa2ab1";
    let expected: [(u64, &str); 5] = [
        (52936, chrome),
        (52937, "t12d190800_d83cc789557e_7af1ed941c26"),
        (52938, "t13d1516h2_8daaf6152771_9b887d9acb53"),
        (52940, chrome),
        (52941, chrome),
    ];
    for (port, ja4) in expected {
        let (got_ja4, _, _) = got
            .get(&port)
            .unwrap_or_else(|| panic!("no ClientHello from {port}"));
        assert_eq!(got_ja4, ja4, "JA4 of the flow from port {port}");
    }
    assert_eq!(
        got[&52937].1,
        "t12d190800_000a,002f,0035,003c,003d,009c,009d,c009,c00a,c013,c014,c023,c024,c027,c028,\
         c02b,c02c,c02f,c030_0005,000a,000b,000d,0017,0023,ff01_0804,0805,0806,0401,0501,0201,\
         0403,0503,0203,0202,0601,0603"
    );
}

#[test]
fn ja3_matches_tshark_on_the_samples() {
    // tshark -r FILE -Y tls.handshake.type==1 -T fields -e tls.handshake.ja3
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    let tls12 = fingerprints(&samples.join("tls12-mtls.pcap"));
    assert_eq!(
        tls12.values().map(|v| v.2.as_str()).collect::<Vec<_>>(),
        ["22558766122974704364c9c75c5cce0a"]
    );
    let tls13 = fingerprints(&samples.join("tls13-server-only.pcap"));
    assert_eq!(
        tls13.values().map(|v| v.2.as_str()).collect::<Vec<_>>(),
        ["f146948b4a599d4d7ddf071b74696983"]
    );
}
