//! Decryption of TLS 1.3 handshake records with secrets from a key log.
