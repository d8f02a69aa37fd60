//! Flows encrypted by a protocol other than TLS (samples/make-encrypted-samples.sh): an OpenSSH
//! session is `encrypted`, proven by both sides taking their new keys; it meets
//! `--require encrypted` and violates `--require mtls`; SSH framing in front of cleartext is
//! `plaintext`.

mod common;

use assert_cmd::Command;
use common::{json_report, pcap_records, sample, shared_captures};
use serde_json::Value;

#[test]
fn an_openssh_session_is_encrypted_by_ssh() {
    let path = sample("encrypted-ssh.pcap");
    let (r, code) = json_report(&[path.to_str().unwrap()], None);
    assert_eq!(code, 0);
    let flows = r["flows"].as_array().unwrap();
    assert_eq!(flows.len(), 1);
    let f = &flows[0];
    assert_eq!(f["transport"], "tcp");
    assert_eq!(f["verdict"], "encrypted", "{f:#}");
    assert_eq!(
        f["reason_codes"],
        serde_json::json!(["encrypted", "encrypted"])
    );
    let e = &f["encryption"];
    assert_eq!(e["protocol"], "ssh");
    assert_eq!(e["version"], "2.0");
    for side in ["client_software", "server_software"] {
        assert!(
            e[side].as_str().unwrap().starts_with("SSH-2.0-OpenSSH_"),
            "{e:#}"
        );
    }
    assert!(e["key_exchange"].is_string(), "{e:#}");
    assert!(e["cipher_client_to_server"].is_string(), "{e:#}");
    // tshark: the server's NEWKEYS shares a frame with its key exchange reply and the client's
    // comes after it; each side encrypts from a later frame than its banner
    let (client, server) = (
        e["encrypted_from"]["client"].as_u64().unwrap(),
        e["encrypted_from"]["server"].as_u64().unwrap(),
    );
    assert!(client > server && server > 6, "{e:#}");
    assert!(f["tls"].is_null() && f["plaintext"].is_null());
    assert_eq!(r["summary"]["by_verdict"]["encrypted"], 1);
}

#[test]
fn ssh_meets_require_encrypted_and_violates_require_mtls() {
    let path = sample("encrypted-ssh.pcap");
    let path = path.to_str().unwrap();
    let (r, code) = json_report(&["--require", "encrypted", path], None);
    assert_eq!(
        (code, &r["summary"]["policy"]["pass"]),
        (0, &Value::Bool(true))
    );
    let (r, code) = json_report(&["--require", "mtls", path], None);
    assert_eq!(code, 1);
    assert_eq!(r["summary"]["policy"]["violations"], serde_json::json!([1]));
    assert_eq!(r["flows"][0]["policy"], "not TLS");
    let junit = Command::cargo_bin("mtlscan")
        .unwrap()
        .args(["-f", "junit", "--require", "mtls", path])
        .output()
        .unwrap();
    let junit = String::from_utf8(junit.stdout).unwrap();
    assert!(junit.contains(r#"failures="1""#), "{junit}");
}

/// The real session with the client's first encrypted segment overwritten by an HTTP request of
/// the same length (Ethernet, IPv4 without options, TCP with 12 bytes of options on loopback):
/// the SSH handshake in front of it does not make it encrypted.
#[test]
fn ssh_framing_in_front_of_cleartext_is_plaintext() {
    let path = sample("encrypted-ssh.pcap");
    let (r, _) = json_report(&[path.to_str().unwrap()], None);
    let frame = r["flows"][0]["encryption"]["encrypted_from"]["client"]
        .as_u64()
        .unwrap() as usize;
    let mut bytes = std::fs::read(&path).unwrap();
    let (start, len) = pcap_records(&bytes)[frame - 1];
    let payload = start + 14 + 20 + 32;
    let text = b"GET /payments HTTP/1.1\r\nHost: ledger\r\nAuthorization: Basic c2VjcmV0\r\n\r\n";
    let room = start + len - payload;
    assert!(room >= 40, "frame {frame} carries {room} bytes");
    let patched = &text[..room.min(text.len())];
    bytes[payload..payload + patched.len()].copy_from_slice(patched);
    let (r, code) = json_report(&["--require", "encrypted"], Some(bytes));
    let f = &r["flows"][0];
    assert_eq!(f["verdict"], "plaintext", "{f:#}");
    assert_eq!(code, 1);
    let evidence = f["plaintext"]["evidence"].as_str().unwrap();
    assert!(evidence.starts_with("GET /payments HTTP/1.1"), "{evidence}");
    assert!(
        !evidence.contains("c2VjcmV0"),
        "the credential is redacted: {evidence}"
    );
    assert_eq!(f["plaintext"]["frame"], frame);
}

/// The shared corpus (`../shared/captures`, real captures of other projects): OpenSSH sessions
/// behind sslh on port 443, and inside Geneve between two hosts, are told by their bytes.
#[test]
fn ssh_sessions_of_other_projects_are_encrypted() {
    let Some(root) = shared_captures() else {
        eprintln!("SKIPPED: ../shared/captures not found");
        return;
    };
    for (file, port, kex, cipher) in [
        (
            "zeek/ssl-and-ssh-using-sslh.pcap",
            443,
            "curve25519-sha256@libssh.org",
            "chacha20-poly1305@openssh.com",
        ),
        (
            "mercury/geneve.pcap",
            22,
            "diffie-hellman-group-exchange-sha256",
            "aes128-ctr",
        ),
    ] {
        let path = root.join(file);
        let (r, _) = json_report(&[path.to_str().unwrap()], None);
        let ssh: Vec<&Value> = r["flows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["server"]["port"] == port && f["encryption"].is_object())
            .collect();
        assert_eq!(ssh.len(), 1, "{file}");
        let (f, e) = (ssh[0], &ssh[0]["encryption"]);
        assert_eq!(f["verdict"], "encrypted", "{file}: {f:#}");
        assert_eq!(
            (
                e["key_exchange"].as_str(),
                e["cipher_client_to_server"].as_str()
            ),
            (Some(kex), Some(cipher)),
            "{file}"
        );
    }
}
